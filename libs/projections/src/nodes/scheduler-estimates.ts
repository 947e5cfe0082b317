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

export interface EstimateAccuracy {
  /** Started jobs that had an estimate, within the window. */
  readonly samples: number;
  /** |actual start - first estimate|, in seconds. */
  readonly absoluteErrorSeconds: {
    readonly p50: number;
    readonly p90: number;
    readonly max: number;
  } | null;
  /** Started later than first estimated (the estimate was optimistic). */
  readonly late: number;
  readonly early: number;
  /** Started within a minute of the first estimate. */
  readonly withinOneMinute: number;
}

/**
 * How good the first estimates were (C7), over the jobs that started since `since`: the error of
 * each job's first estimate against its actual start, the figure a tenant cares about when told
 * "your job starts at ...".
 */
export const readEstimateAccuracy = async (
  db: Queryable,
  since: Date,
): Promise<EstimateAccuracy> => {
  const { rows } = await db.query<{
    samples: string;
    p50: number | null;
    p90: number | null;
    max: number | null;
    late: string;
    early: string;
    close: string;
  }>(
    `WITH e AS (
       SELECT extract(epoch FROM started_at - first_estimated_start_at) AS err
         FROM scheduler_estimates
        WHERE started_at IS NOT NULL AND first_estimated_start_at IS NOT NULL AND started_at >= $1)
     SELECT count(*) AS samples,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(err)) AS p50,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY abs(err)) AS p90,
            max(abs(err)) AS max,
            count(*) FILTER (WHERE err > 0) AS late,
            count(*) FILTER (WHERE err < 0) AS early,
            count(*) FILTER (WHERE abs(err) <= 60) AS close
       FROM e`,
    [since],
  );
  const row = rows[0]!;
  const samples = Number(row.samples);
  return {
    samples,
    absoluteErrorSeconds:
      samples === 0 ? null : { p50: Number(row.p50), p90: Number(row.p90), max: Number(row.max) },
    late: Number(row.late),
    early: Number(row.early),
    withinOneMinute: Number(row.close),
  };
};
