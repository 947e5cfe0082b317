import { type Pool } from 'pg';
import { type JobCursor } from './cursor';
import { type JobStepView, type JobView } from './schemas';

/** The job_summary columns the API shows; timestamps as ISO text, the cursor's at full precision. */
const COLUMNS = `
  job_id, state, name, nodes, pool, priority, attempt, lease_epoch, assigned_nodes, exit_codes,
  cancel_requested, reason_code, reason, not_before, submitted_at, admitted_at, queued_at,
  started_at, finished_at, updated_at, outputs, progress, checkpoint, run, parent_job_id,
  parent_step, parent_run,
  to_char(submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS submitted_key`;

interface JobRow {
  job_id: string;
  state: JobView['state'];
  name: string | null;
  nodes: number;
  pool: string;
  priority: number;
  attempt: number;
  lease_epoch: number;
  assigned_nodes: unknown[];
  exit_codes: (number | null)[];
  cancel_requested: boolean;
  reason_code: string | null;
  reason: string | null;
  not_before: Date | null;
  submitted_at: Date;
  admitted_at: Date | null;
  queued_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
  outputs: JobView['outputs'];
  progress: number | null;
  checkpoint: JobView['checkpoint'];
  run: number;
  parent_job_id: string | null;
  parent_step: string | null;
  parent_run: number | null;
  submitted_key: string;
}

interface StepRow {
  step: string;
  depends_on: string[];
  state: JobStepView['state'];
  run: number;
  child_job_id: string | null;
  reason: string | null;
  outputs: JobStepView['outputs'];
}

const iso = (value: Date | null): string | null => (value === null ? null : value.toISOString());

export const toJobView = (row: JobRow): JobView => ({
  id: row.job_id,
  state: row.state,
  name: row.name,
  nodes: row.nodes,
  pool: row.pool,
  priority: row.priority,
  attempts: row.attempt,
  leaseEpoch: row.lease_epoch,
  assignedNodes: row.assigned_nodes,
  exitCodes: row.exit_codes,
  cancelRequested: row.cancel_requested,
  reason:
    row.reason_code === null && row.reason === null
      ? null
      : { code: row.reason_code, message: row.reason },
  notBefore: iso(row.not_before),
  submittedAt: row.submitted_at.toISOString(),
  admittedAt: iso(row.admitted_at),
  queuedAt: iso(row.queued_at),
  startedAt: iso(row.started_at),
  finishedAt: iso(row.finished_at),
  updatedAt: row.updated_at.toISOString(),
  outputs: row.outputs,
  progress: row.progress,
  checkpoint: row.checkpoint,
  run: row.run,
  parent:
    row.parent_job_id === null || row.parent_step === null || row.parent_run === null
      ? null
      : { jobId: row.parent_job_id, step: row.parent_step, run: row.parent_run },
});

export interface JobPage {
  readonly items: readonly JobView[];
  readonly next: JobCursor | null;
}

/**
 * Reads of the job_summary projection, always scoped by the caller's tenant (invariant 7): the
 * tenant is part of every WHERE, so another tenant's job is indistinguishable from a missing one.
 */
export class JobsReadModel {
  constructor(private readonly pool: Pick<Pool, 'query'>) {}

  async get(tenant: string, jobId: string): Promise<JobView | null> {
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${COLUMNS} FROM job_summary WHERE tenant = $1 AND job_id = $2`,
      [tenant, jobId],
    );
    return rows[0] ? toJobView(rows[0]) : null;
  }

  /** How far the job's row has caught up with its stream; null for no such job. */
  async version(tenant: string, jobId: string): Promise<number | null> {
    const { rows } = await this.pool.query<{ last_version: number }>(
      'SELECT last_version FROM job_summary WHERE tenant = $1 AND job_id = $2',
      [tenant, jobId],
    );
    return rows[0]?.last_version ?? null;
  }

  /** A job with steps' steps, in the spec's order (D5); empty for any other job. */
  async steps(tenant: string, jobId: string): Promise<JobStepView[]> {
    const { rows } = await this.pool.query<StepRow>(
      `SELECT step, depends_on, state, run, child_job_id, reason, outputs
         FROM job_steps WHERE tenant = $1 AND job_id = $2 ORDER BY position`,
      [tenant, jobId],
    );
    return rows.map((row) => ({
      name: row.step,
      dependsOn: row.depends_on,
      state: row.state,
      run: row.run,
      jobId: row.child_job_id,
      reason: row.reason,
      outputs: row.outputs,
    }));
  }

  /**
   * Newest first, keyset-paginated on (submitted_at DESC, job_id ASC), the order of the
   * (tenant[, state], submitted_at DESC, job_id) indexes, so a page is an index range scan.
   */
  async list(
    tenant: string,
    options: { state?: string; limit: number; after?: JobCursor },
  ): Promise<JobPage> {
    const params: unknown[] = [tenant];
    const where = ['tenant = $1'];
    if (options.state !== undefined) {
      params.push(options.state);
      where.push(`state = $${params.length}`);
    }
    if (options.after !== undefined) {
      params.push(options.after.submittedAt, options.after.jobId);
      const ts = `$${params.length - 1}::timestamptz`;
      const id = `$${params.length}`;
      where.push(`(submitted_at < ${ts} OR (submitted_at = ${ts} AND job_id > ${id}))`);
    }
    params.push(options.limit + 1);
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${COLUMNS} FROM job_summary WHERE ${where.join(' AND ')}
       ORDER BY submitted_at DESC, job_id ASC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, options.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(toJobView),
      next:
        rows.length > options.limit && last
          ? { submittedAt: last.submitted_key, jobId: last.job_id }
          : null,
    };
  }
}
