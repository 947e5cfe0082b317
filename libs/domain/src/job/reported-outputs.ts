import { ErrorCodes, GantryError, type ChildJobRequest, type OutputFile } from '@gantry/contracts';
import { type SubmittedJob } from './job.aggregate';

/** What an exit report says about the rank's outputs. */
export interface OutputReport {
  readonly rank: number;
  readonly exitCode: number;
  readonly outputs: readonly OutputFile[];
}

/**
 * Whether a rank's exit may carry these outputs (D4), checked before anything is recorded. Every
 * rank of the gang may report the files it left, but only with a clean exit: a failed rank's
 * files are never the job's. The attempt's outputs are one set of names, so a report whose names
 * are already pending from another rank is refused whole rather than committed twice or
 * overwritten: the agent names each rank's files apart (rank 0 keeps its names, rank r>0 prefixes
 * `rank<r>-`), so a clash means a job whose rank 0 wrote a file named like another rank's.
 */
export const checkReportedOutputs = (job: SubmittedJob, report: OutputReport): void => {
  if (report.outputs.length === 0) return;
  if (report.exitCode !== 0) {
    throw new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      `job ${job.jobId}: only a clean exit reports outputs (rank ${report.rank} exited ${report.exitCode})`,
      { details: { jobId: job.jobId, rank: report.rank, exitCode: report.exitCode } },
    );
  }
  const pending = new Set(job.pendingOutputs.map((o) => o.name));
  const clashes = report.outputs.map((o) => o.name).filter((name) => pending.has(name));
  if (clashes.length === 0) return;
  throw new GantryError(
    ErrorCodes.VALIDATION_FAILED,
    `job ${job.jobId}: rank ${report.rank} reports outputs another rank of attempt ${job.attempt} already reported: ${clashes.join(', ')}`,
    {
      details: {
        jobId: job.jobId,
        attempt: job.attempt,
        rank: report.rank,
        conflicts: clashes,
      },
    },
  );
};

/**
 * Whether a rank's exit may ask for child jobs (D5 fan-out): only rank 0's clean exit, which
 * speaks for the gang, and only names that are not already steps of the job (a retried step job
 * may fan out again only to new names: each child is a step, run once per run).
 */
export const checkReportedChildren = (
  job: SubmittedJob,
  report: {
    readonly rank: number;
    readonly exitCode: number;
    readonly children: readonly ChildJobRequest[];
  },
): void => {
  if (report.rank !== 0 || report.exitCode !== 0) {
    throw new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      `job ${job.jobId}: only a clean exit of rank 0 asks for child jobs (rank ${report.rank} exited ${report.exitCode})`,
      { details: { jobId: job.jobId, rank: report.rank, exitCode: report.exitCode } },
    );
  }
  const taken = new Set([
    ...job.steps.map((s) => s.name),
    ...job.pendingChildren.map((c) => c.name),
  ]);
  const clashes = report.children.map((c) => c.name).filter((name) => taken.has(name));
  if (clashes.length > 0) {
    throw new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      `job ${job.jobId}: child names already taken by its steps: ${clashes.join(', ')}`,
      { details: { jobId: job.jobId, conflicts: clashes } },
    );
  }
};
