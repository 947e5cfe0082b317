import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { type Queryable } from './scheduler-nodes';

/**
 * scheduler_estimates (C7): when the scheduler expects each queued job to start, and when it did.
 * Soft state the scheduler's leader writes every few seconds from a forward run of the placement
 * core (estimateStarts); the first estimate is kept beside the latest and the actual start, so the
 * estimates' accuracy can be reported (started_at - first_estimated_start_at, per job). Rebuilt by
 * the next estimate, not by a replay. `GET /v1/jobs/{id}` reads it.
 */
export class CreateSchedulerEstimates1765100000100 implements MigrationInterface {
  name = 'CreateSchedulerEstimates1765100000100';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE scheduler_estimates (
        job_id                    text PRIMARY KEY,
        tenant                    text NOT NULL,
        estimated_start_at        timestamptz,
        first_estimated_start_at  timestamptz,
        first_estimated_at        timestamptz NOT NULL,
        updated_at                timestamptz NOT NULL,
        started_at                timestamptz
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE scheduler_estimates');
  }
}

export interface StartEstimate {
  readonly jobId: string;
  readonly tenant: string;
  /** Null: no estimate (it cannot fit, or starts beyond what the estimate looks at). */
  readonly estimatedStartAt: Date | null;
}

/** The latest estimates (insert or replace); the first one of each job is kept. */
export const upsertStartEstimates = async (
  db: Queryable,
  estimates: readonly StartEstimate[],
  at: Date,
): Promise<void> => {
  if (estimates.length === 0) return;
  await db.query(
    `INSERT INTO scheduler_estimates
       (job_id, tenant, estimated_start_at, first_estimated_start_at, first_estimated_at, updated_at)
     SELECT r.job_id, r.tenant, r.estimated_start_at, r.estimated_start_at, $2, $2
       FROM jsonb_to_recordset($1::jsonb) AS r(job_id text, tenant text, estimated_start_at timestamptz)
     ON CONFLICT (job_id) DO UPDATE SET
       estimated_start_at = EXCLUDED.estimated_start_at,
       first_estimated_start_at =
         COALESCE(scheduler_estimates.first_estimated_start_at, EXCLUDED.estimated_start_at),
       updated_at = EXCLUDED.updated_at
     WHERE scheduler_estimates.started_at IS NULL`,
    [
      JSON.stringify(
        estimates.map((e) => ({
          job_id: e.jobId,
          tenant: e.tenant,
          estimated_start_at: e.estimatedStartAt?.toISOString() ?? null,
        })),
      ),
      at.toISOString(),
    ],
  );
};

/** The job's actual start (its first lease), beside the estimates made before it. */
export const recordActualStart = async (
  db: Queryable,
  jobId: string,
  startedAt: Date,
): Promise<void> => {
  await db.query(
    'UPDATE scheduler_estimates SET started_at = $2 WHERE job_id = $1 AND started_at IS NULL',
    [jobId, startedAt.toISOString()],
  );
};

/** The latest estimate of one of the tenant's jobs, if any. */
export const readStartEstimate = async (
  db: Queryable,
  tenant: string,
  jobId: string,
): Promise<Date | null> => {
  const { rows } = await db.query<{ estimated_start_at: Date | null }>(
    `SELECT estimated_start_at FROM scheduler_estimates
      WHERE tenant = $1 AND job_id = $2 AND started_at IS NULL`,
    [tenant, jobId],
  );
  return rows[0]?.estimated_start_at ?? null;
};

/** Forgets estimates last touched before `before`: accuracy is reported over a window, not forever. */
export const pruneStartEstimates = async (db: Queryable, before: Date): Promise<void> => {
  await db.query('DELETE FROM scheduler_estimates WHERE COALESCE(started_at, updated_at) < $1', [
    before.toISOString(),
  ]);
};
