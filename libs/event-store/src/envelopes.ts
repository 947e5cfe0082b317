import { randomUUID } from 'node:crypto';
import {
  ErrorCodes,
  EventEnvelopeSchema,
  GantryError,
  StreamIdSchema,
  validationError,
  type EventEnvelope,
  type MessageRegistry,
} from '@gantry/contracts';

/** What a caller hands to append: a domain event plus the metadata only the caller knows. */
export interface NewEvent {
  /** Defaults to a random UUID; pass one to make a retried command produce the same event id. */
  readonly id?: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: NewEventMetadata;
}

export interface NewEventMetadata {
  readonly tenant: string;
  readonly causationId: string | null;
  readonly correlationId: string;
  readonly traceparent?: string;
  readonly actor?: string;
  /** Defaults to the store's clock. */
  readonly occurredAt?: string | Date;
}

/** One event checked and normalised, ready to be written; stream version and position come from the write. */
export interface PreparedEvent {
  readonly id: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly data: Record<string, unknown>;
  /** Stored in the `metadata` column; tenant, stream and time have their own columns. */
  readonly storedMetadata: Readonly<Record<string, unknown>>;
  readonly occurredAt: string;
}

export interface PreparedAppend {
  readonly streamId: string;
  readonly tenant: string;
  readonly events: readonly PreparedEvent[];
}

export interface PrepareOptions {
  readonly now?: () => Date;
  readonly newId?: () => string;
}

const invalid = (message: string, details: Record<string, unknown> = {}): GantryError =>
  new GantryError(ErrorCodes.VALIDATION_FAILED, message, { details });

const toIsoTime = (value: string | Date | undefined, now: () => Date): string | undefined => {
  if (value === undefined) return now().toISOString();
  const date = typeof value === 'string' ? new Date(value) : value;
  // Normalised to UTC milliseconds, the precision a JS Date reads back, so the envelope append
  // returns is the one every later read returns.
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
};

/**
 * Checks everything an append writes before anything is written: the stream id, that every type
 * is known and its data is the current version's shape, and the envelope and its metadata. The
 * data written is the schema's output (defaults applied), at the current schema version.
 */
export const prepareAppend = (
  registry: MessageRegistry,
  streamId: string,
  events: readonly NewEvent[],
  options: PrepareOptions = {},
): PreparedAppend => {
  const now = options.now ?? (() => new Date());
  const newId = options.newId ?? randomUUID;
  const stream = StreamIdSchema.safeParse(streamId);
  if (!stream.success) throw validationError('stream id', stream.error);
  if (events.length === 0) throw invalid('an append needs at least one event', { streamId });
  const tenant = events[0]!.metadata?.tenant;

  const prepared = events.map((event, index): PreparedEvent => {
    if (typeof event.metadata !== 'object' || event.metadata === null) {
      throw invalid(`event ${index} has no metadata`, { streamId, index });
    }
    if (event.metadata.tenant !== tenant) {
      throw invalid('all events of one append must belong to one tenant', { streamId, index });
    }
    const data = registry.validateData(event.type, event.data);
    const { tenant: _tenant, occurredAt: rawOccurredAt, ...rest } = event.metadata;
    const occurredAt = toIsoTime(rawOccurredAt, now);
    const candidate = {
      id: event.id ?? newId(),
      type: event.type,
      schemaVersion: registry.currentVersion(event.type),
      data,
      metadata: {
        ...rest,
        tenant,
        occurredAt: occurredAt ?? String(rawOccurredAt),
        streamId,
        // A placeholder that satisfies the schema; the real version is known once written.
        streamVersion: index + 1,
      },
    };
    const parsed = EventEnvelopeSchema.safeParse(candidate);
    if (!parsed.success) throw validationError(`event ${index} (${event.type})`, parsed.error);
    const { causationId, correlationId, traceparent, actor } = parsed.data.metadata;
    return {
      id: parsed.data.id,
      type: parsed.data.type,
      schemaVersion: parsed.data.schemaVersion,
      data,
      storedMetadata: {
        causationId,
        correlationId,
        ...(traceparent === undefined ? {} : { traceparent }),
        ...(actor === undefined ? {} : { actor }),
      },
      occurredAt: parsed.data.metadata.occurredAt,
    };
  });
  return { streamId, tenant: String(tenant), events: prepared };
};

/** The envelope of a prepared event once the store has given it a version and a position. */
export const storedEnvelope = (
  append: PreparedAppend,
  event: PreparedEvent,
  streamVersion: number,
  globalPosition: string,
): EventEnvelope => ({
  id: event.id,
  type: event.type,
  schemaVersion: event.schemaVersion,
  data: event.data,
  metadata: {
    ...(event.storedMetadata as { causationId: string | null; correlationId: string }),
    tenant: append.tenant,
    occurredAt: event.occurredAt,
    streamId: append.streamId,
    streamVersion,
    globalPosition,
  },
});

/** A row of `events` as the read queries select it. */
export interface EventRow {
  readonly global_position: string;
  readonly transaction_id: string;
  readonly event_id: string;
  readonly stream_id: string;
  readonly stream_version: number;
  readonly tenant: string;
  readonly type: string;
  readonly schema_version: number;
  readonly data: Record<string, unknown>;
  readonly metadata: Record<string, unknown>;
  readonly occurred_at: Date;
}

/** A stored row as an envelope, upcast to the current schema version of its type. */
export const envelopeFromRow = (registry: MessageRegistry, row: EventRow): EventEnvelope =>
  registry.parseEvent({
    id: row.event_id,
    type: row.type,
    schemaVersion: row.schema_version,
    data: row.data,
    metadata: {
      ...row.metadata,
      tenant: row.tenant,
      occurredAt: row.occurred_at.toISOString(),
      streamId: row.stream_id,
      streamVersion: row.stream_version,
      globalPosition: row.global_position,
    },
  });
