import { type Pool, type PoolClient } from 'pg';
import { ErrorCodes, GantryError, type EventEnvelope } from '@gantry/contracts';
import { inPoolTransaction, type Checkpoint, type PostgresEventStore } from '@gantry/event-store';
import { opToSql } from './op-sql';
import { type ProjectionTable } from './projection-op';
import { classifyStreamVersion, readsStreamOf, type ProjectionDefinition } from './projection';

/**
 * How far a projection has read. The store order and the bus order are different sequences, so
 * a batch moves whichever one it came from: a rebuild or catch-up the store checkpoint, the live
 * consumer the JetStream stream sequence.
 */
export interface ProjectionCheckpoint {
  readonly store?: Checkpoint;
  readonly busSequence?: number;
}

export interface ProjectionCheckpointState {
  readonly store: Checkpoint | null;
  readonly busSequence: number | null;
  readonly eventsApplied: number;
}

/**
 * What the sink needs from the store: a stream's events from a version on, to fill a gap the bus
 * left (invariant 8). Any reader of the store will do; the sink never writes to it.
 */
export type StreamReader = Pick<PostgresEventStore, 'readStream'>;

export interface ApplyResult {
  /** Events whose ops were applied, gap fillers included. */
  readonly applied: number;
  /** Redeliveries and older versions, skipped. */
  readonly duplicates: number;
  /** Events read from the store to fill gaps. */
  readonly filled: number;
  /** Events of streams this projection does not read. */
  readonly ignored: number;
}

/**
 * Applies batches of events to one projection's tables (CONVENTIONS.md #5): the ops of every new
 * event, the per-stream versions and the checkpoint are written in one transaction, so a crash
 * leaves either all of a batch or none of it, and the caller acks only after `apply` returns.
 */
export class PostgresProjectionSink {
  private readonly tables: ReadonlyMap<string, ProjectionTable>;

  constructor(
    private readonly pool: Pool,
    readonly definition: ProjectionDefinition,
    private readonly store: StreamReader,
  ) {
    this.tables = new Map(definition.tables.map((t) => [t.name, t]));
  }

  get name(): string {
    return this.definition.name;
  }

  async apply(
    events: readonly EventEnvelope[],
    checkpoint: ProjectionCheckpoint = {},
  ): Promise<ApplyResult> {
    return this.inTransaction(async (client) => {
      await this.lockCheckpoint(client);
      const relevant = events.filter((e) => readsStreamOf(this.definition, e));
      const versions = await this.loadVersions(client, relevant);
      const touched = new Set<string>();
      let applied = 0;
      let duplicates = 0;
      let filled = 0;

      for (const event of relevant) {
        const { streamId, streamVersion } = event.metadata;
        const position = classifyStreamVersion(versions.get(streamId) ?? 0, streamVersion);
        if (position.kind === 'duplicate') {
          duplicates += 1;
          continue;
        }
        if (position.kind === 'gap') {
          const missing = await this.readGap(streamId, position.fromVersion, position.toVersion);
          for (const earlier of missing) await this.applyOne(client, earlier);
          filled += missing.length;
          applied += missing.length;
        }
        await this.applyOne(client, event);
        applied += 1;
        versions.set(streamId, streamVersion);
        touched.add(streamId);
      }

      await this.saveVersions(client, versions, touched);
      await this.saveCheckpoint(client, checkpoint, applied);
      return { applied, duplicates, filled, ignored: events.length - relevant.length };
    });
  }

  async readCheckpoint(): Promise<ProjectionCheckpointState | null> {
    const { rows } = await this.pool.query<{
      transaction_id: string | null;
      global_position: string | null;
      bus_sequence: string | null;
      events_applied: string;
    }>(
      'SELECT transaction_id, global_position, bus_sequence, events_applied FROM projection_checkpoints WHERE projection = $1',
      [this.name],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      store:
        row.transaction_id !== null && row.global_position !== null
          ? { transactionId: row.transaction_id, position: row.global_position }
          : null,
      busSequence: row.bus_sequence === null ? null : Number(row.bus_sequence),
      eventsApplied: Number(row.events_applied),
    };
  }

  /**
   * Empties the projection's tables, its stream versions and its checkpoint in one transaction,
   * so that a replay from the start of the store rebuilds it (invariant 6). TRUNCATE's exclusive
   * lock waits for a live batch in flight and holds the next one off until the reset commits.
   */
  async reset(): Promise<void> {
    await this.inTransaction(async (client) => {
      const tables = this.definition.tables.map((t) => `"${t.name}"`).join(', ');
      await client.query(`TRUNCATE ${tables}`);
      await client.query('DELETE FROM projection_stream_versions WHERE projection = $1', [
        this.name,
      ]);
      await client.query('DELETE FROM projection_checkpoints WHERE projection = $1', [this.name]);
    });
  }

  /**
   * Projects one stream again from the store: deletes the rows it wrote (`rows`: table and key
   * values), then applies all its events, and records its version, in one transaction. How a
   * reconciler corrects rows that drifted from the truth without rebuilding everything. The
   * stream is read under the checkpoint lock, so a live batch cannot slip between the read and
   * the rewrite; events appended after it arrive as the next versions, as usual.
   */
  async replayStream(
    streamId: string,
    rows: readonly { readonly table: string; readonly where: Readonly<Record<string, unknown>> }[],
  ): Promise<number> {
    return this.inTransaction(async (client) => {
      await this.lockCheckpoint(client);
      for (const { table, where } of rows) {
        const owned = this.tables.get(table);
        const columns = Object.keys(where);
        if (!owned || columns.length === 0 || columns.some((c) => !owned.columns.includes(c)))
          throw new Error(`projection ${this.name} cannot delete from ${table} by ${columns}`);
        await client.query(
          `DELETE FROM "${table}" WHERE ${columns.map((c, i) => `"${c}" = $${i + 1}`).join(' AND ')}`,
          Object.values(where),
        );
      }
      const events = await this.store.readStream(streamId);
      for (const event of events) await this.applyOne(client, event);
      const version = events.at(-1)?.metadata.streamVersion ?? 0;
      await this.saveVersions(client, new Map([[streamId, version]]), new Set([streamId]));
      return events.length;
    });
  }

  private async applyOne(client: PoolClient, event: EventEnvelope): Promise<void> {
    for (const op of this.definition.project(event)) {
      const table = this.tables.get(op.table);
      if (!table) throw new Error(`projection ${this.name} does not own table '${op.table}'`);
      const { text, values } = opToSql(op, table);
      await client.query(text, values);
    }
  }

  /**
   * Reads the versions the bus skipped. The store is the truth and commits before anything is
   * published, so if it does not have them yet something is badly out of order: fail the batch
   * as retryable and let the redelivery try again, rather than apply around a hole.
   */
  private async readGap(
    streamId: string,
    fromVersion: number,
    toVersion: number,
  ): Promise<EventEnvelope[]> {
    const read = await this.store.readStream(streamId, {
      fromVersion,
      maxCount: toVersion - fromVersion + 1,
    });
    const missing = read
      .filter(
        (e) => e.metadata.streamVersion >= fromVersion && e.metadata.streamVersion <= toVersion,
      )
      .sort((a, b) => a.metadata.streamVersion - b.metadata.streamVersion);
    const contiguous = missing.every((e, i) => e.metadata.streamVersion === fromVersion + i);
    if (!contiguous || missing.length !== toVersion - fromVersion + 1) {
      throw new GantryError(
        ErrorCodes.UNAVAILABLE,
        `projection ${this.name}: the store has no versions ${fromVersion}..${toVersion} of ${streamId} yet`,
        { retryable: true, details: { projection: this.name, streamId, fromVersion, toVersion } },
      );
    }
    return missing;
  }

  /**
   * Takes the projection's checkpoint row lock first, creating the row if needed: every batch
   * and every reset of one projection goes through this row, so they never interleave.
   */
  private async lockCheckpoint(client: PoolClient): Promise<void> {
    await client.query(
      'INSERT INTO projection_checkpoints (projection) VALUES ($1) ON CONFLICT (projection) DO NOTHING',
      [this.name],
    );
    await client.query('SELECT 1 FROM projection_checkpoints WHERE projection = $1 FOR UPDATE', [
      this.name,
    ]);
  }

  private async loadVersions(
    client: PoolClient,
    events: readonly EventEnvelope[],
  ): Promise<Map<string, number>> {
    const streamIds = [...new Set(events.map((e) => e.metadata.streamId))];
    if (streamIds.length === 0) return new Map();
    const { rows } = await client.query<{ stream_id: string; version: number }>(
      'SELECT stream_id, version FROM projection_stream_versions WHERE projection = $1 AND stream_id = ANY($2::text[])',
      [this.name, streamIds],
    );
    return new Map(rows.map((r) => [r.stream_id, r.version]));
  }

  private async saveVersions(
    client: PoolClient,
    versions: ReadonlyMap<string, number>,
    touched: ReadonlySet<string>,
  ): Promise<void> {
    if (touched.size === 0) return;
    const streamIds = [...touched];
    await client.query(
      `INSERT INTO projection_stream_versions (projection, stream_id, version)
       SELECT $1, s, v FROM unnest($2::text[], $3::int[]) AS t(s, v)
       ON CONFLICT (projection, stream_id) DO UPDATE SET version = EXCLUDED.version`,
      [this.name, streamIds, streamIds.map((s) => versions.get(s))],
    );
  }

  private async saveCheckpoint(
    client: PoolClient,
    checkpoint: ProjectionCheckpoint,
    applied: number,
  ): Promise<void> {
    await client.query(
      `UPDATE projection_checkpoints SET
         transaction_id  = COALESCE($2, transaction_id),
         global_position = COALESCE($3::bigint, global_position),
         bus_sequence    = GREATEST(bus_sequence, $4::bigint),
         events_applied  = events_applied + $5,
         updated_at      = now()
       WHERE projection = $1`,
      [
        this.name,
        checkpoint.store?.transactionId ?? null,
        checkpoint.store?.position ?? null,
        checkpoint.busSequence ?? null,
        applied,
      ],
    );
  }

  private inTransaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return inPoolTransaction(this.pool, work);
  }
}
