import {
  ErrorCodes,
  GantryError,
  type EventEnvelope,
  type MessageRegistry,
} from '@gantry/contracts';
import { type ClientBase, type Pool, type PoolClient } from 'pg';
import { type Checkpoint } from './checkpoint';
import {
  envelopeFromRow,
  prepareAppend,
  storedEnvelope,
  type EventRow,
  type NewEvent,
  type PrepareOptions,
} from './envelopes';
import { appendErrorFrom, isStreamVersionConflict, type ExpectedVersion } from './errors';

export interface AppendResult {
  /** The stream's version after this append: the version of its last event. */
  readonly nextVersion: number;
  readonly events: readonly EventEnvelope[];
}

export interface ReadStreamOptions {
  /** Inclusive; defaults to 1. */
  readonly fromVersion?: number;
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  readonly after: Checkpoint | null;
  readonly limit: number;
}

export interface ReadAllResult {
  readonly events: readonly EventEnvelope[];
  /** Where the next read continues: the last event read, or `after` when there was nothing new. */
  readonly checkpoint: Checkpoint | null;
}

/** A connection to run on: a transaction's client, or a dedicated one (the publisher's). */
export interface OnConnection {
  readonly tx?: ClientBase;
}

export interface Snapshot<S> {
  readonly streamId: string;
  readonly version: number;
  readonly schemaVersion: number;
  readonly state: S;
}

export interface AggregateOptions<S> {
  readonly initial: () => S;
  readonly evolve: (state: S, event: EventEnvelope) => S;
  /** Save a snapshot once at least this many events were folded past the last one; off when absent. */
  readonly snapshotEvery?: number;
  /**
   * The version of the state's shape. Bump it when evolve changes: older snapshots are then
   * ignored (and replaced), because a snapshot is only a cache of the fold.
   */
  readonly snapshotSchemaVersion?: number;
}

export interface AggregateResult<S> {
  readonly state: S;
  /** The stream version the state reflects; 0 for a stream with no events. */
  readonly version: number;
  /** Events read from the store on this call (not counting what the snapshot covered). */
  readonly eventsFolded: number;
}

export interface EventStoreOptions extends PrepareOptions {
  /** How often an 'any' append outside a caller's transaction retries a transaction-order loss. */
  readonly anyVersionRetries?: number;
}

// Bigints leave as text (no precision lost in JS). ORDER BY must name the table's columns
// (events.x): a bare name would pick these text aliases and sort 10 before 2.
const EVENT_COLUMNS = `events.global_position::text AS global_position, events.transaction_id::text AS transaction_id,
  event_id, stream_id, stream_version, tenant, type, schema_version, data, metadata, occurred_at`;

const APPEND_SQL = `SELECT next_version, global_positions::text[] AS global_positions
  FROM gantry_append_to_stream($1, $2, $3, $4::uuid[], $5::text[], $6::integer[], $7::jsonb[], $8::jsonb[], $9::timestamptz[])`;

/**
 * Reads in the publisher's order: by transaction id, then position, and only transactions older
 * than every transaction still running. Anything below the snapshot's xmin has committed or
 * aborted, so no event can later appear before the checkpoint a reader moves to (invariant 3).
 */
const READ_ALL_SQL = `SELECT ${EVENT_COLUMNS}
  FROM events
  WHERE (events.transaction_id, events.global_position) > ($1::xid8, $2::bigint)
    AND events.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  ORDER BY events.transaction_id, events.global_position
  LIMIT $3`;

const READ_STREAM_SQL = `SELECT ${EVENT_COLUMNS}
  FROM events
  WHERE events.stream_id = $1 AND events.stream_version >= $2
  ORDER BY events.stream_version
  LIMIT $3`;

const toExpectedVersion = (expected: ExpectedVersion): number | null => {
  if (expected === 'any') return null;
  if (expected === 'no_stream') return 0;
  return expected;
};

/**
 * The Postgres event store: the source of truth (ARCHITECTURE.md). Writes go through one
 * plpgsql function per append; reads through `pg` directly, upcast to current schema versions.
 */
export class PostgresEventStore {
  private readonly anyVersionRetries: number;

  constructor(
    private readonly pool: Pool,
    readonly registry: MessageRegistry,
    private readonly options: EventStoreOptions = {},
  ) {
    this.anyVersionRetries = options.anyVersionRetries ?? 3;
  }

  async append(
    streamId: string,
    expectedVersion: ExpectedVersion,
    events: readonly NewEvent[],
    opts: OnConnection = {},
  ): Promise<AppendResult> {
    if (
      typeof expectedVersion === 'number' &&
      (!Number.isInteger(expectedVersion) || expectedVersion < 0)
    ) {
      throw new GantryError(
        ErrorCodes.VALIDATION_FAILED,
        'expected version must be a whole number >= 0',
        {
          details: { streamId, expectedVersion },
        },
      );
    }
    const prepared = prepareAppend(this.registry, streamId, events, this.options);
    const params = [
      prepared.streamId,
      prepared.tenant,
      toExpectedVersion(expectedVersion),
      prepared.events.map((e) => e.id),
      prepared.events.map((e) => e.type),
      prepared.events.map((e) => e.schemaVersion),
      prepared.events.map((e) => JSON.stringify(e.data)),
      prepared.events.map((e) => JSON.stringify(e.storedMetadata)),
      prepared.events.map((e) => e.occurredAt),
    ];
    // Only an 'any' append that owns its transaction can safely retry a transaction-order loss:
    // the retry is a new transaction with a newer xid, and the caller decided nothing on a version.
    const retries = expectedVersion === 'any' && !opts.tx ? this.anyVersionRetries : 0;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const db = opts.tx ?? this.pool;
        const { rows } = await db.query<{ next_version: number; global_positions: string[] }>(
          APPEND_SQL,
          params,
        );
        const row = rows[0]!;
        const first = row.next_version - prepared.events.length + 1;
        return {
          nextVersion: row.next_version,
          events: prepared.events.map((event, i) =>
            storedEnvelope(prepared, event, first + i, row.global_positions[i]!),
          ),
        };
      } catch (err) {
        const mapped = appendErrorFrom(err, streamId, expectedVersion);
        if (
          attempt < retries &&
          isStreamVersionConflict(mapped) &&
          mapped.reason === 'transaction_order'
        )
          continue;
        throw mapped;
      }
    }
  }

  async readStream(
    streamId: string,
    options: ReadStreamOptions = {},
    opts: OnConnection = {},
  ): Promise<EventEnvelope[]> {
    const db = opts.tx ?? this.pool;
    const { rows } = await db.query<EventRow>(READ_STREAM_SQL, [
      streamId,
      options.fromVersion ?? 1,
      options.maxCount ?? null,
    ]);
    return rows.map((row) => envelopeFromRow(this.registry, row));
  }

  async readAll(options: ReadAllOptions, opts: OnConnection = {}): Promise<ReadAllResult> {
    const db = opts.tx ?? this.pool;
    const { rows } = await db.query<EventRow>(READ_ALL_SQL, [
      options.after?.transactionId ?? '0',
      options.after?.position ?? '0',
      options.limit,
    ]);
    const last = rows[rows.length - 1];
    return {
      events: rows.map((row) => envelopeFromRow(this.registry, row)),
      checkpoint: last
        ? { transactionId: last.transaction_id, position: last.global_position }
        : options.after,
    };
  }

  /** Runs fn in one transaction; pass the client to append/read as `{ tx }`. */
  async withTransaction<T>(fn: (tx: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError;
      }
      throw err;
    } finally {
      // A client whose rollback failed is in an unknown state; the pool must not hand it out again.
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  async loadSnapshot<S>(streamId: string, opts: OnConnection = {}): Promise<Snapshot<S> | null> {
    const db = opts.tx ?? this.pool;
    const { rows } = await db.query<{ version: number; schema_version: number; state: S }>(
      'SELECT version, schema_version, state FROM snapshots WHERE stream_id = $1',
      [streamId],
    );
    const row = rows[0];
    return row
      ? { streamId, version: row.version, schemaVersion: row.schema_version, state: row.state }
      : null;
  }

  /** Saves a snapshot unless a newer one is already there (racing readers may both save). */
  async saveSnapshot<S>(snapshot: Snapshot<S>, opts: OnConnection = {}): Promise<void> {
    const db = opts.tx ?? this.pool;
    await db.query(
      `INSERT INTO snapshots AS s (stream_id, version, schema_version, state)
       VALUES ($1, $2, $3, $4::jsonb)
       ON CONFLICT (stream_id) DO UPDATE
         SET version = excluded.version, schema_version = excluded.schema_version,
             state = excluded.state, saved_at = now()
         WHERE s.version < excluded.version OR s.schema_version <> excluded.schema_version`,
      [snapshot.streamId, snapshot.version, snapshot.schemaVersion, JSON.stringify(snapshot.state)],
    );
  }

  /** Folds a stream into state, starting from its snapshot when there is a usable one. */
  async aggregateStream<S>(
    streamId: string,
    options: AggregateOptions<S>,
    opts: OnConnection = {},
  ): Promise<AggregateResult<S>> {
    const schemaVersion = options.snapshotSchemaVersion ?? 1;
    const usesSnapshots = options.snapshotEvery !== undefined && options.snapshotEvery > 0;
    const snapshot = usesSnapshots ? await this.loadSnapshot<S>(streamId, opts) : null;
    const base = snapshot && snapshot.schemaVersion === schemaVersion ? snapshot : null;

    let state = base ? base.state : options.initial();
    let version = base ? base.version : 0;
    const events = await this.readStream(streamId, { fromVersion: version + 1 }, opts);
    for (const event of events) {
      state = options.evolve(state, event);
      version = event.metadata.streamVersion;
    }
    if (usesSnapshots && events.length >= options.snapshotEvery!) {
      await this.saveSnapshot({ streamId, version, schemaVersion, state }, opts);
    }
    return { state, version, eventsFolded: events.length };
  }
}
