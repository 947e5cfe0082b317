import {
  CommandEnvelopeSchema,
  ErrorCodes,
  GantryError,
  validationError,
  type CommandEnvelope,
  type EventEnvelope,
  type MessageRegistry,
} from '@gantry/contracts';
import { type RejectionReason } from './outcome';

/**
 * Turning bytes from the wire into an envelope a handler may see. Nothing reaches a handler
 * unless it parsed, matched its envelope schema, named a known type and upcast to the current
 * version; everything else is refused here with the reason.
 */
export type Decoded<T> =
  | { readonly ok: true; readonly envelope: T }
  | { readonly ok: false; readonly reason: RejectionReason; readonly error: GantryError };

const decoder = new TextDecoder('utf-8', { fatal: true });

const parseJson = (
  bytes: Uint8Array,
): { ok: true; value: unknown } | { ok: false; error: GantryError } => {
  try {
    return { ok: true, value: JSON.parse(decoder.decode(bytes)) as unknown };
  } catch (err) {
    return {
      ok: false,
      error: new GantryError(ErrorCodes.VALIDATION_FAILED, 'message is not UTF-8 JSON', {
        details: { bytes: bytes.length },
        cause: err,
      }),
    };
  }
};

const rejection = (error: unknown): { ok: false; reason: RejectionReason; error: GantryError } => {
  if (error instanceof GantryError) {
    const reason: RejectionReason =
      error.code === ErrorCodes.UNKNOWN_EVENT_TYPE ? 'unknown-type' : 'invalid-envelope';
    return { ok: false, reason, error };
  }
  throw error;
};

export const decodeEvent = (
  bytes: Uint8Array,
  registry: MessageRegistry,
): Decoded<EventEnvelope> => {
  const json = parseJson(bytes);
  if (!json.ok) return { ok: false, reason: 'unparseable', error: json.error };
  try {
    return { ok: true, envelope: registry.parseEvent(json.value) };
  } catch (err) {
    return rejection(err);
  }
};

/** Commands carry no stream position; otherwise they are read like events (known type, data upcast). */
export const parseCommand = (raw: unknown, registry: MessageRegistry): CommandEnvelope => {
  const parsed = CommandEnvelopeSchema.safeParse(raw);
  if (!parsed.success) throw validationError('command envelope', parsed.error);
  const envelope = parsed.data;
  const data = registry.upcast(envelope.type, envelope.schemaVersion, envelope.data);
  return { ...envelope, schemaVersion: registry.currentVersion(envelope.type), data };
};

export const decodeCommand = (
  bytes: Uint8Array,
  registry: MessageRegistry,
): Decoded<CommandEnvelope> => {
  const json = parseJson(bytes);
  if (!json.ok) return { ok: false, reason: 'unparseable', error: json.error };
  try {
    return { ok: true, envelope: parseCommand(json.value, registry) };
  } catch (err) {
    return rejection(err);
  }
};
