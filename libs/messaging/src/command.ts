import {
  errors as natsErrors,
  headers as natsHeaders,
  type MsgHdrs,
  type NatsConnection,
} from '@nats-io/transport-node';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { z } from 'zod';
import { randomUUID } from 'node:crypto';
import {
  commandRegistry,
  CommandEnvelopeSchema,
  ErrorCodes,
  GantryError,
  validationError,
  type CommandEnvelope,
  type ErrorCode,
  type ServiceName,
  type SubjectCatalogue,
} from '@gantry/contracts';
import { encodeEnvelope, TRACEPARENT_HEADER } from './publish';
import { injectTraceContext } from './trace-carrier';

/** Who sends a command, and in answer to what: the metadata every sender fills in. */
export interface CommandOrigin {
  readonly tenant: string;
  readonly actor?: string;
  readonly causationId?: string | null;
  readonly correlationId?: string;
  readonly traceparent?: string;
  readonly occurredAt?: Date;
}

/**
 * A command envelope at the current version of its type. Stamping the version from the registry,
 * not a literal, is what lets a receiver upcast an older sender's data, and refuse a newer one's
 * with UNSUPPORTED_SCHEMA_VERSION instead of a confusing validation failure.
 */
export const commandEnvelope = (
  type: string,
  data: Readonly<Record<string, unknown>>,
  origin: CommandOrigin,
): CommandEnvelope => ({
  id: randomUUID(),
  type,
  schemaVersion: commandRegistry.currentVersion(type),
  data: { ...data },
  metadata: {
    tenant: origin.tenant,
    occurredAt: (origin.occurredAt ?? new Date()).toISOString(),
    causationId: origin.causationId ?? null,
    correlationId: origin.correlationId ?? `corr-${randomUUID()}`,
    ...(origin.actor === undefined ? {} : { actor: origin.actor }),
    ...(origin.traceparent === undefined ? {} : { traceparent: origin.traceparent }),
  },
});

/**
 * Commands travel over core NATS request/reply on `<ns>.cmd.<service>.<verb>` (a command is
 * answered now or not at all; it is not something to replay after a restart). The reply is
 * `{ ok: true, result }` or `{ ok: false, error: { code, message, retryable, details } }`, so
 * the caller gets the one error model back, never a stack trace.
 */
export type CommandReply<T = unknown> =
  | { readonly ok: true; readonly result: T }
  | { readonly ok: false; readonly error: ReturnType<GantryError['toJSON']> };

const CommandReplySchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({
    ok: z.literal(false),
    error: z.object({
      code: z.string(),
      message: z.string(),
      retryable: z.boolean(),
      details: z.record(z.string(), z.unknown()).default({}),
    }),
  }),
]);

export const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;
export const TRACER_NAME = '@gantry/messaging';

const knownCodes = new Set<string>(Object.values(ErrorCodes));

export const successReply = <T>(result: T): CommandReply<T> => ({ ok: true, result });

export const errorReply = (error: GantryError): CommandReply<never> => ({
  ok: false,
  error: error.toJSON(),
});

export const encodeReply = (reply: CommandReply): Uint8Array =>
  // `undefined` would vanish from the JSON and the reply would no longer parse.
  encodeEnvelope(reply.ok ? { ok: true, result: reply.result ?? null } : reply);

/** Reads a reply; an error reply becomes the GantryError the service threw. */
export const decodeReply = <T = unknown>(bytes: Uint8Array, subject: string): T => {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new GantryError(ErrorCodes.INTERNAL, `the reply from ${subject} is not JSON`, {
      cause: err,
    });
  }
  const parsed = CommandReplySchema.safeParse(raw);
  if (!parsed.success) throw validationError(`the reply from ${subject}`, parsed.error);
  const reply = parsed.data;
  if (reply.ok) return reply.result as T;
  const { code, message, retryable, details } = reply.error;
  // A newer service may answer with a code this build does not know; keep it rather than lie.
  if (!knownCodes.has(code)) {
    throw new GantryError(ErrorCodes.INTERNAL, message, {
      retryable,
      details: { ...details, remoteCode: code },
    });
  }
  throw new GantryError(code as ErrorCode, message, { retryable, details });
};

export interface SendCommandOptions {
  readonly timeoutMs?: number;
  readonly headers?: MsgHdrs;
  /** Ask the service's leader (`<ns>.leader.<service>.<verb>`): state only the leader holds. */
  readonly leaderOnly?: boolean;
}

/**
 * Sends one command and waits for its answer. Usable outside Nest (tools, tests, the agent).
 * Refuses an invalid envelope before it leaves; maps "nobody listening" to UNAVAILABLE and
 * "nobody answered in time" to TIMEOUT, both retryable.
 */
export const sendCommand = async <T = unknown>(
  nc: NatsConnection,
  subjects: SubjectCatalogue,
  service: ServiceName,
  verb: string,
  envelope: CommandEnvelope,
  options: SendCommandOptions = {},
): Promise<T> => {
  const checked = CommandEnvelopeSchema.safeParse(envelope);
  if (!checked.success)
    throw validationError(`command envelope for ${service}.${verb}`, checked.error);
  const subject = options.leaderOnly
    ? subjects.leaderCommand(service, verb)
    : subjects.command(service, verb);
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const tracer = trace.getTracer(TRACER_NAME);
  return tracer.startActiveSpan(
    `${subject} send`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'messaging.system': 'nats',
        'messaging.destination.name': subject,
        'messaging.message.id': envelope.id,
      },
    },
    async (span) => {
      try {
        const hdrs = options.headers ?? natsHeaders();
        injectTraceContext(hdrs, context.active());
        if (!hdrs.has(TRACEPARENT_HEADER) && envelope.metadata.traceparent) {
          hdrs.set(TRACEPARENT_HEADER, envelope.metadata.traceparent);
        }
        const reply = await nc
          .request(subject, encodeEnvelope(envelope), { timeout: timeoutMs, headers: hdrs })
          .catch((err: unknown) => {
            throw requestFailure(err, subject, timeoutMs);
          });
        return decodeReply<T>(reply.data, subject);
      } catch (err) {
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: err instanceof Error ? err.message : String(err),
        });
        throw err;
      } finally {
        span.end();
      }
    },
  );
};

const requestFailure = (err: unknown, subject: string, timeoutMs: number): GantryError => {
  const noResponders =
    err instanceof natsErrors.NoRespondersError ||
    (err instanceof natsErrors.RequestError && err.isNoResponders());
  if (noResponders) {
    return new GantryError(ErrorCodes.UNAVAILABLE, `nobody is listening on ${subject}`, {
      retryable: true,
      details: { subject },
      cause: err,
    });
  }
  if (
    err instanceof natsErrors.TimeoutError ||
    (err instanceof Error && err.cause instanceof natsErrors.TimeoutError)
  ) {
    return new GantryError(ErrorCodes.TIMEOUT, `no answer on ${subject} within ${timeoutMs} ms`, {
      retryable: true,
      details: { subject, timeoutMs },
      cause: err,
    });
  }
  return new GantryError(
    ErrorCodes.UNAVAILABLE,
    `request on ${subject} failed: ${err instanceof Error ? err.message : String(err)}`,
    {
      retryable: true,
      details: { subject },
      cause: err,
    },
  );
};
