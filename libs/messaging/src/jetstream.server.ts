import { Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import { type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient as NatsJetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { isObservable, lastValueFrom } from 'rxjs';
import {
  ErrorCodes,
  GantryError,
  commandRegistry as defaultCommandRegistry,
  eventRegistry as defaultEventRegistry,
  isGantryError,
  type MessageRegistry,
  type ServiceName,
  type SubjectCatalogue,
} from '@gantry/contracts';
import { encodeReply, errorReply, successReply, TRACER_NAME, type CommandReply } from './command';
import { buildDeadLetter, publishDeadLetter } from './dead-letter';
import { decodeCommand, decodeEvent } from './decode';
import { JetStreamContext } from './jetstream.context';
import { openConnection, type NatsConnectionSource } from './nats-source';
import { decideOutcome, toGantryError, type HandlingResult, type MessageOutcome } from './outcome';
import { DEFAULT_RETRY_POLICY, retryDelayMs, type RetryPolicy } from './retry-policy';
import { ensureConsumer, ensureStreams, streamNames, type ConsumerDeclaration } from './topology';
import { extractTraceContext } from './trace-carrier';

/** Handlers may name this transport explicitly: `@EventPattern('JobSubmitted', JETSTREAM_TRANSPORT)`. */
export const JETSTREAM_TRANSPORT = Symbol.for('gantry.jetstream');

export interface JetStreamServerOptions {
  readonly nats: NatsConnectionSource;
  readonly subjects: SubjectCatalogue;
  /** Whose commands this process answers: `@MessagePattern(verb)` listens on `<ns>.cmd.<service>.<verb>`. */
  readonly service: ServiceName;
  /** The durable consumers whose events go to `@EventPattern(type)` handlers. */
  readonly consumers?: readonly ConsumerDeclaration[];
  readonly events?: MessageRegistry;
  readonly commands?: MessageRegistry;
  readonly retry?: RetryPolicy;
  /** Queue group for commands, so instances of one service share the work; defaults to the service. */
  readonly queue?: string;
  /**
   * Messages pulled per request (default 1). A pulled message's ack-wait runs while it waits its turn
   * behind the one being handled, so a batch larger than 1 needs `ackWaitMs` above batch x the slowest
   * handler, or waiting messages are redelivered (and use up their deliveries) without being tried.
   */
  readonly pullBatch?: number;
  /** Create or update streams and consumers at start (default true). */
  readonly ensureTopology?: boolean;
  readonly clock?: () => Date;
}

type TransportStatus = 'connected' | 'disconnected';

interface ConsumeLoop {
  readonly messages: ConsumerMessages;
  readonly done: Promise<void>;
}

/**
 * A Nest transport over NATS (the built-in NATS transport has no JetStream):
 *
 *  - `@EventPattern('<EventType>')` handlers consume events from durable JetStream pull consumers,
 *    one message at a time per consumer, dispatched by the envelope's type. The handler's result
 *    decides the message's fate (see `decideOutcome`): ack, nak with backoff, or dead-letter + term.
 *  - `@MessagePattern('<verb>')` handlers answer commands over core NATS request/reply on
 *    `<ns>.cmd.<service>.<verb>` in a queue group.
 *
 * Every message is decoded and validated before any handler sees it, and the handler runs inside
 * the sender's trace context. Register `GantryRpcExceptionFilter` globally so handlers' errors
 * reach the transport with their code and retryable flag.
 */
export class JetStreamServer
  extends Server<Record<string, never>, TransportStatus>
  implements CustomTransportStrategy
{
  override readonly transportId = JETSTREAM_TRANSPORT;

  private readonly events: MessageRegistry;
  private readonly commands: MessageRegistry;
  private readonly retry: RetryPolicy;
  private readonly clock: () => Date;
  private nc: NatsConnection | undefined;
  private ownsConnection = false;
  private js: NatsJetStreamClient | undefined;
  private readonly loops: ConsumeLoop[] = [];
  private readonly subscriptions: Subscription[] = [];
  private readonly inFlightCommands = new Set<Promise<void>>();
  private closing = false;
  private closed: Promise<void> | undefined;

  constructor(private readonly options: JetStreamServerOptions) {
    super();
    this.events = options.events ?? defaultEventRegistry;
    this.commands = options.commands ?? defaultCommandRegistry;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.clock = options.clock ?? (() => new Date());
  }

  async listen(callback: (err?: unknown, ...optionalParams: unknown[]) => void): Promise<void> {
    try {
      await this.start();
      this._status$.next('connected');
      callback();
    } catch (err) {
      await this.close().catch(() => undefined);
      callback(err);
    }
  }

  /** Stops pulling, lets the message in hand finish and be acked, answers the commands in flight, then drains. */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  on(): never {
    throw new Error(
      'JetStreamServer has no events to listen to; watch unwrap<NatsConnection>().status() instead',
    );
  }

  unwrap<T>(): T {
    if (!this.nc) throw new Error('JetStreamServer is not listening');
    return this.nc as T;
  }

  private async start(): Promise<void> {
    const { nc, owned } = await openConnection(this.options.nats);
    this.nc = nc;
    this.ownsConnection = owned;
    const jsm = await jetstreamManager(nc);
    this.js = jetstream(nc);
    const declarations = this.options.consumers ?? [];
    if (this.options.ensureTopology ?? true) {
      await ensureStreams(jsm, this.options.subjects);
      for (const declaration of declarations)
        await ensureConsumer(jsm, this.options.subjects, declaration);
    }
    this.bindCommands(nc);
    // Subscriptions are registered with the server once flushed: only then is the service reachable.
    await nc.flush();
    for (const declaration of declarations) this.loops.push(await this.startConsumer(declaration));
  }

  private bindCommands(nc: NatsConnection): void {
    const queue = this.options.queue ?? this.options.service;
    for (const [verb, handler] of this.messageHandlers) {
      if (handler.isEventHandler) continue;
      const subject = this.options.subjects.command(this.options.service, verb);
      const subscription = nc.subscribe(subject, {
        queue,
        callback: (err, msg) => {
          if (err) {
            this.logger.error(`command subscription ${subject} failed: ${err.message}`);
            return;
          }
          const answered = this.answerCommand(handler, msg).catch((failure: unknown) =>
            this.logger.error(`answering ${msg.subject} failed: ${describe(failure)}`),
          );
          this.inFlightCommands.add(answered);
          void answered.finally(() => this.inFlightCommands.delete(answered));
        },
      });
      this.subscriptions.push(subscription);
    }
  }

  private async startConsumer(declaration: ConsumerDeclaration): Promise<ConsumeLoop> {
    const js = this.requireJetStream();
    const stream = streamNames(this.options.subjects)[declaration.stream];
    const consumer = await js.consumers.get(stream, declaration.durableName);
    // The server's setting is the one that counts, even if someone changed it by hand.
    const { config } = await consumer.info();
    const maxDeliver =
      config.max_deliver && config.max_deliver > 0 ? config.max_deliver : Number.POSITIVE_INFINITY;
    const messages = await consumer.consume({ max_messages: this.options.pullBatch ?? 1 });
    const done = (async () => {
      for await (const msg of messages) {
        if (this.closing) {
          // Pulled but not started: hand it back now rather than after ack-wait.
          msg.nak();
          continue;
        }
        await this.processEvent(declaration, maxDeliver, msg).catch((err: unknown) =>
          // Left unacked: the server redelivers it after ack-wait. The loop goes on regardless.
          this.logger.error(
            `consumer ${declaration.durableName} failed on ${msg.subject}: ${describe(err)}`,
          ),
        );
      }
    })();
    return { messages, done };
  }

  private processEvent(
    declaration: ConsumerDeclaration,
    maxDeliver: number,
    msg: JsMsg,
  ): Promise<void> {
    const parent = extractTraceContext(msg.headers, ROOT_CONTEXT);
    return trace.getTracer(TRACER_NAME).startActiveSpan(
      `${declaration.durableName} process`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.destination.name': msg.subject,
          'messaging.consumer.group.name': declaration.durableName,
          'messaging.message.delivery_count': msg.info.deliveryCount,
        },
      },
      parent,
      async (span) => {
        try {
          const result = await this.dispatchEvent(declaration, msg);
          const outcome = decideOutcome(
            result,
            { deliveryCount: msg.info.deliveryCount, maxDeliver },
            this.retry,
          );
          recordOutcome(span, outcome);
          await this.settle(declaration, msg, outcome);
        } finally {
          span.end();
        }
      },
    );
  }

  private async dispatchEvent(
    declaration: ConsumerDeclaration,
    msg: JsMsg,
  ): Promise<HandlingResult> {
    const decoded = decodeEvent(msg.data, this.events);
    if (!decoded.ok) return { kind: 'rejected', reason: decoded.reason, error: decoded.error };
    trace.getActiveSpan()?.setAttributes({
      'messaging.message.id': decoded.envelope.id,
      'gantry.event.type': decoded.envelope.type,
    });
    const handler = this.getHandlerByPattern(decoded.envelope.type);
    if (!handler?.isEventHandler) return { kind: 'no-handler' };
    const ctx = new JetStreamContext([msg.subject, msg.headers, msg, declaration.durableName]);
    try {
      await settleHandlerResult(handler(decoded.envelope, ctx));
      return { kind: 'handled' };
    } catch (error) {
      return { kind: 'failed', error };
    }
  }

  private async settle(
    declaration: ConsumerDeclaration,
    msg: JsMsg,
    outcome: MessageOutcome,
  ): Promise<void> {
    switch (outcome.kind) {
      case 'ack':
        msg.ack();
        return;
      case 'nak':
        this.logger.warn(
          `${declaration.durableName}: ${msg.subject} failed (${outcome.error.code}: ${outcome.error.message}); ` +
            `retrying in ${outcome.delayMs} ms`,
        );
        msg.nak(outcome.delayMs);
        return;
      case 'dead-letter': {
        const deadLetter = buildDeadLetter({
          consumer: declaration.durableName,
          reason: outcome.reason,
          error: outcome.error,
          message: msg,
          now: this.clock(),
        });
        try {
          await publishDeadLetter(this.requireJetStream(), this.options.subjects, deadLetter);
        } catch (err) {
          // Never term what was not parked: try again later, the dead letter is deduplicated.
          this.logger.error(
            `${declaration.durableName}: could not dead-letter ${msg.subject}: ${describe(err)}`,
          );
          msg.nak(retryDelayMs(this.retry, msg.info.deliveryCount));
          return;
        }
        this.logger.error(
          `${declaration.durableName}: dead-lettered ${msg.subject} (${outcome.reason}: ${outcome.error.code} ${outcome.error.message})`,
        );
        msg.term(this.termReason(outcome.reason));
        return;
      }
      default:
        assertNever(outcome);
    }
  }

  /**
   * nats-server before 2.10 does not recognise `+TERM <reason>` and ignores it, which would leave the
   * message to be redelivered; the reason is in the dead letter either way.
   */
  private termReason(reason: string): string | undefined {
    const version = this.nc?.info?.version ?? '0.0.0';
    const [major = 0, minor = 0] = version.split('.').map((part) => Number.parseInt(part, 10));
    return major > 2 || (major === 2 && minor >= 10) ? reason : undefined;
  }

  private answerCommand(handler: MessageHandler, msg: Msg): Promise<void> {
    const parent = extractTraceContext(msg.headers, ROOT_CONTEXT);
    return trace.getTracer(TRACER_NAME).startActiveSpan(
      `${msg.subject} process`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'messaging.system': 'nats', 'messaging.destination.name': msg.subject },
      },
      parent,
      async (span) => {
        try {
          const reply = await this.runCommand(handler, msg);
          if (!reply.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: reply.error.code });
          // A command sent without a reply subject (fire and forget) is still handled.
          if (msg.reply) msg.respond(encodeReply(reply));
        } finally {
          span.end();
        }
      },
    );
  }

  private async runCommand(handler: MessageHandler, msg: Msg): Promise<CommandReply> {
    const decoded = decodeCommand(msg.data, this.commands);
    if (!decoded.ok) return errorReply(decoded.error);
    const ctx = new JetStreamContext([msg.subject, msg.headers, undefined, undefined]);
    try {
      return successReply(await settleHandlerResult(handler(decoded.envelope, ctx)));
    } catch (err) {
      if (isGantryError(err)) return errorReply(err);
      // Not ours: log it whole, answer with nothing that could leak internals.
      this.logger.error(`${msg.subject} failed: ${describe(err)}`);
      const internal = toGantryError(err);
      return errorReply(
        new GantryError(ErrorCodes.INTERNAL, 'internal error', {
          retryable: internal.retryable,
          details: internal.details,
        }),
      );
    }
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    await Promise.all(this.loops.map((loop) => loop.messages.close()));
    await Promise.all(this.loops.map((loop) => loop.done));
    await Promise.all(this.subscriptions.map((sub) => sub.drain().catch(() => undefined)));
    await Promise.allSettled([...this.inFlightCommands]);
    const nc = this.nc;
    if (nc && !nc.isClosed()) {
      // drain() flushes our acks and replies; a borrowed connection only gets them flushed.
      if (this.ownsConnection) await nc.drain();
      else await nc.flush();
    }
    this._status$.next('disconnected');
  }

  private requireJetStream(): NatsJetStreamClient {
    if (!this.js) throw new Error('JetStreamServer is not listening');
    return this.js;
  }
}

/** A Nest handler returns a value, a promise, or an observable (for errors, one that fails). */
const settleHandlerResult = async (result: unknown): Promise<unknown> => {
  const value: unknown = await result;
  return isObservable(value) ? lastValueFrom(value, { defaultValue: undefined }) : value;
};

const recordOutcome = (span: Span, outcome: MessageOutcome): void => {
  span.setAttribute('gantry.messaging.outcome', outcome.kind);
  if (outcome.kind !== 'ack')
    span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error.code });
};

const describe = (err: unknown): string =>
  err instanceof Error ? (err.stack ?? err.message) : String(err);

const assertNever = (value: never): never => {
  throw new Error(`unexpected outcome ${JSON.stringify(value)}`);
};
