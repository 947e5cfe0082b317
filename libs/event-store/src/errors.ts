import { ErrorCodes, GantryError } from '@gantry/contracts';

export type ExpectedVersion = number | 'no_stream' | 'any';

/**
 * Why an append lost: `version` - the stream moved on since the caller read it; `transaction_order`
 * - a transaction that started earlier tried to append after a later one (see appendSql in
 * event-store.ts).
 * Both are retryable: re-read, decide again, append in a fresh transaction.
 */
export type ConflictReason = 'version' | 'transaction_order';

export class StreamVersionConflictError extends GantryError {
  constructor(
    readonly streamId: string,
    readonly expectedVersion: ExpectedVersion,
    readonly actualVersion: number,
    readonly reason: ConflictReason,
  ) {
    super(
      ErrorCodes.STREAM_VERSION_CONFLICT,
      reason === 'version'
        ? `stream ${streamId} is at version ${actualVersion}, expected ${String(expectedVersion)}`
        : `stream ${streamId} was appended by a later transaction; retry in a new transaction`,
      { retryable: true, details: { streamId, expectedVersion, actualVersion, reason } },
    );
    this.name = 'StreamVersionConflictError';
  }
}

export const isStreamVersionConflict = (err: unknown): err is StreamVersionConflictError =>
  err instanceof StreamVersionConflictError;

const PG_UNIQUE_VIOLATION = '23505';
/** The unique constraints of `events` (schema/migrations.ts; Postgres's default names). */
const EVENT_ID_CONSTRAINT = 'events_event_id_key';
const STREAM_VERSION_CONSTRAINT = 'events_stream_id_stream_version_key';

interface PgError {
  readonly code?: string;
  readonly detail?: string;
  readonly constraint?: string;
}

/** The stream belongs to another tenant than the events appended to it. */
export const otherTenantError = (streamId: string): GantryError =>
  new GantryError(ErrorCodes.VALIDATION_FAILED, `stream ${streamId} belongs to another tenant`, {
    details: { streamId },
  });

/**
 * Turns a database error from an append into our error model; anything unknown passes through.
 * Version conflicts and tenant mismatches do not come through here: the append statement inserts
 * nothing in those cases and the store asks why (PostgresEventStore.append).
 */
export const appendErrorFrom = (
  err: unknown,
  streamId: string,
  expectedVersion: ExpectedVersion,
): unknown => {
  const pg = err as PgError;
  if (pg?.code !== PG_UNIQUE_VIOLATION) return err;
  if (pg.constraint === EVENT_ID_CONSTRAINT) {
    // Not retryable: the same id will be refused again. A command retried with the same event ids
    // after its first attempt committed lands here (or, appending at the same expected version,
    // on a version conflict): either way the events are already stored.
    const eventId = /\(event_id\)=\(([^)]+)\)/.exec(pg.detail ?? '')?.[1];
    return new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      'an event with this id is already stored',
      {
        details: { streamId, ...(eventId === undefined ? {} : { eventId }) },
      },
    );
  }
  if (pg.constraint === STREAM_VERSION_CONSTRAINT) {
    // The append skips a conflict on its first version (ON CONFLICT DO NOTHING) and nothing else
    // can hold a later one; only rows written around the store (raw SQL) get here. Still a lost race.
    return new StreamVersionConflictError(streamId, expectedVersion, -1, 'version');
  }
  return err;
};
