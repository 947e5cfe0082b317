import { type Pool, type PoolClient } from 'pg';
import { type FileId } from '@gantry/contracts';

/**
 * The orphan sweep's reads of the event store (D4), kept here so staging's SQL lives in one place.
 * They read the events table's jsonb directly: which refs a job ever committed is a question across
 * every job stream, and no projection answers it. The type filters scan the table; a sweep runs
 * rarely (every few minutes) and reads a bounded batch, so that is the price paid for now.
 */

/** An attempt's file (FileCreated.producedBy) no OutputsCommitted or JobCheckpointed names. */
export interface OrphanCandidate {
  readonly fileId: FileId;
  readonly tenant: string;
  readonly jobId: string;
  readonly leaseEpoch: number;
}

/** Every ref a job committed: its outputs (OutputsCommitted) and its checkpoints (JobCheckpointed). */
const COMMITTED_REFS = `
  SELECT o.value->>'ref' AS ref
    FROM events e CROSS JOIN LATERAL jsonb_array_elements(e.data->'outputs') o
   WHERE e.type = 'OutputsCommitted'
  UNION
  SELECT e.data->'checkpoint'->>'ref' AS ref
    FROM events e
   WHERE e.type = 'JobCheckpointed'`;

/**
 * Attempt files created before `createdBefore`, not deleted and not committed by now, oldest
 * first. Being a candidate is not enough to be deleted: the caller still asks whether the lease
 * that made the file could commit it, and then asks `isCommitted` again.
 */
export const findOrphanCandidates = async (
  db: Pick<Pool, 'query'>,
  createdBefore: Date,
  limit: number,
): Promise<OrphanCandidate[]> => {
  const { rows } = await db.query<{
    file_id: FileId;
    tenant: string;
    job_id: string;
    lease_epoch: number;
  }>(
    `WITH committed AS (${COMMITTED_REFS})
     SELECT c.stream_id AS file_id, c.tenant,
            c.data->'producedBy'->>'jobId' AS job_id,
            (c.data->'producedBy'->>'leaseEpoch')::int AS lease_epoch
       FROM events c
      WHERE c.type = 'FileCreated'
        AND c.data ? 'producedBy'
        AND (c.data->>'createdAt')::timestamptz < $1
        AND NOT EXISTS (
              SELECT 1 FROM events d WHERE d.stream_id = c.stream_id AND d.type = 'FileDeleted')
        AND NOT EXISTS (SELECT 1 FROM committed WHERE committed.ref = c.stream_id)
      ORDER BY c.global_position
      LIMIT $2`,
    [createdBefore.toISOString(), limit],
  );
  return rows.map((r) => ({
    fileId: r.file_id,
    tenant: r.tenant,
    jobId: r.job_id,
    leaseEpoch: r.lease_epoch,
  }));
};

/** Whether any job committed this ref, as an output or a checkpoint. */
export const isCommitted = async (db: Pick<Pool, 'query'>, ref: string): Promise<boolean> => {
  const { rows } = await db.query<{ committed: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM (${COMMITTED_REFS}) committed WHERE committed.ref = $1) AS committed`,
    [ref],
  );
  return rows[0]?.committed === true;
};

/** The advisory lock class of staging's sweeps ('gstg'); the key names the sweep. */
const SWEEP_LOCK_CLASS = 0x6773_7467;

/**
 * Runs `sweep` while this process holds the sweep's session advisory lock, or not at all when
 * another replica holds it (null). The lock is tied to one pooled connection: should that die,
 * Postgres releases it, and at worst two sweeps overlap, which deletion's idempotence tolerates.
 */
export const withSweepLock = async <T>(
  pool: Pool,
  name: string,
  sweep: () => Promise<T>,
): Promise<T | null> => {
  const session: PoolClient = await pool.connect();
  let healthy = true;
  const lost = (err: unknown): never => {
    healthy = false;
    throw err;
  };
  try {
    const { rows } = await session
      .query<{ acquired: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS acquired', [
        SWEEP_LOCK_CLASS,
        name,
      ])
      .catch(lost);
    if (rows[0]?.acquired !== true) return null;
    try {
      return await sweep();
    } finally {
      await session
        .query('SELECT pg_advisory_unlock($1, hashtext($2))', [SWEEP_LOCK_CLASS, name])
        .catch(() => (healthy = false));
    }
  } finally {
    // A session whose unlock failed is closed, not pooled, so the lock cannot outlive the sweep.
    session.release(!healthy);
  }
};
