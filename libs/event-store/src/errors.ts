import { ErrorCodes, GantryError } from '@gantry/contracts';

export type ExpectedVersion = number | 'no_stream' | 'any';

/**
 * Why an append lost: `version` - the stream moved on since the caller read it; `transaction_order`
 * - a transaction that started earlier tried to append after a later one (see the append function).
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

/** The SQLSTATEs raised by gantry_append_to_stream (schema/migrations.ts). */
const PG_VERSION_CONFLICT = 'GS001';
const PG_TRANSACTION_ORDER = 'GS002';
const PG_OTHER_TENANT = 'GS003';
const PG_UNIQUE_VIOLATION = '23505';

interface PgError {
  readonly code?: string;
  readonly detail?: string;
  readonly constraint?: string;
}

/** Turns a database error from an append into our error model; anything unknown passes through. */
export const appendErrorFrom = (
  err: unknown,
  streamId: string,
  expectedVersion: ExpectedVersion,
): unknown => {
  const pg = err as PgError;
  switch (pg?.code) {
    case PG_VERSION_CONFLICT:
    case PG_TRANSACTION_ORDER:
      return new StreamVersionConflictError(
        streamId,
        expectedVersion,
        Number(pg.detail ?? 0),
        pg.code === PG_VERSION_CONFLICT ? 'version' : 'transaction_order',
      );
    case PG_OTHER_TENANT:
      return new GantryError(
        ErrorCodes.VALIDATION_FAILED,
        `stream ${streamId} belongs to another tenant`,
        {
          details: { streamId },
        },
      );
    case PG_UNIQUE_VIOLATION:
      if (pg.constraint === 'events_event_id_key') {
        return new GantryError(
          ErrorCodes.VALIDATION_FAILED,
          'an event with this id is already stored',
          {
            details: { streamId },
          },
        );
      }
      // A unique violation on (stream_id, stream_version) cannot get past the streams row lock;
      // if it ever does, it is still a lost race and reads as one.
      return new StreamVersionConflictError(streamId, expectedVersion, -1, 'version');
    default:
      return err;
  }
};
