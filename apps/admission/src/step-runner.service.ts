import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  ErrorCodes,
  isGantryError,
  JobSubmittedData,
  type EventEnvelope,
  type OutputFile,
} from '@gantry/contracts';
import { readySteps, stepIdempotencyKey, childJobSpec, type SubmittedJob } from '@gantry/domain';
import { PeriodicTask } from '@gantry/messaging';
import {
  isRefusal,
  JOB_ADMISSION_DEPENDENCIES,
  JobAdmissionService,
  type JobAdmissionDependencies,
  type Origin,
} from './job-admission.service';

/** How a step's child job ended, from the fact that ended it. */
const CHILD_ENDS = {
  JobSucceeded: 'SUCCEEDED',
  JobFailed: 'FAILED',
  JobDeadLettered: 'DEAD_LETTER',
  JobCancelled: 'CANCELLED',
  // A child that fanned out, or had steps, ends with them.
  StepsSucceeded: 'SUCCEEDED',
  StepsFailed: 'FAILED',
} as const;

/**
 * Runs the steps of jobs with steps (D5). Admission owns it because a step starts the way any job
 * does: submitted, reserved against its tenant's quotas and budget, admitted and queued. Every
 * action here is idempotent and driven by durable facts, so a crash at any point is resumed by a
 * redelivery or the sweep, and nothing runs twice:
 * - a step's child is submitted under an idempotency key of (job, step, run): submitting it again
 *   opens the same job;
 * - the job decides each record against its run and its steps' states: a repeat is a no-op;
 * - the triggers are the job's own facts (JobBlocked, JobReleased, StepsRetried) and its children's
 *   ends, each on a durable consumer, plus a sweep of jobs waiting on their steps.
 */
@Injectable()
export class StepRunnerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly sweeps = new PeriodicTask(() => this.sweep());

  constructor(
    @Inject(JOB_ADMISSION_DEPENDENCIES) private readonly deps: JobAdmissionDependencies,
    @Inject(JobAdmissionService) private readonly admission: JobAdmissionService,
  ) {}

  onApplicationBootstrap(): void {
    if (this.deps.pool) this.sweeps.start(this.deps.recoveryIntervalMs ?? 30_000);
  }

  onApplicationShutdown(): Promise<void> {
    return this.sweeps.stop();
  }

  /** A fact of a job that may let its steps go on: submit the steps that are ready now. */
  async onJobFact(event: EventEnvelope): Promise<void> {
    await this.advance(originOf(event), String(event.data['jobId']));
  }

  /**
   * A job ended (its history, as admission read it to release it). A step tells its job how it
   * ended, and the job's next steps start; a cancelled job with steps cancels the steps it runs.
   */
  async onJobEnded(event: EventEnvelope, history: readonly EventEnvelope[]): Promise<void> {
    const submitted = history.find((e) => e.type === 'JobSubmitted');
    if (!submitted) return;
    const { parent } = JobSubmittedData.parse(submitted.data);
    const origin = originOf(event);
    const jobId = String(event.data['jobId']);
    // A fan-out: the job's children are its steps now.
    if (event.type === 'JobFannedOut') {
      await this.advance(origin, jobId);
      return;
    }
    if (parent) {
      const childState = CHILD_ENDS[event.type as keyof typeof CHILD_ENDS];
      if (!childState) return;
      const committed = history.findLast((e) => e.type === 'OutputsCommitted');
      await this.admission.controller(
        'record-step-outcome',
        'RecordStepOutcome',
        {
          jobId: parent.jobId,
          step: parent.step,
          run: parent.run,
          childJobId: String(event.data['jobId']),
          childState,
          reason: typeof event.data['reason'] === 'string' ? event.data['reason'] : '',
          outputs:
            childState === 'SUCCEEDED' ? ((committed?.data['outputs'] ?? []) as OutputFile[]) : [],
        },
        origin,
      );
      await this.advance(origin, parent.jobId);
      return;
    }
    if (event.type === 'JobCancelled')
      await this.cancelSteps(origin, jobId, String(event.data['reason']));
  }

  /** Submits the job's ready steps, each once per run, and records them on the job. */
  async advance(origin: Origin, jobId: string): Promise<number> {
    const job = await this.admission.jobState(origin.tenant, jobId);
    if (job.state !== 'BLOCKED' || job.steps.length === 0) return 0;
    let submitted = 0;
    for (const ready of readySteps(job.steps)) {
      await this.submitStep(origin, job, ready.name);
      submitted += 1;
    }
    return submitted;
  }

  private async submitStep(origin: Origin, job: SubmittedJob, name: string): Promise<void> {
    const step = job.steps.find((s) => s.name === name)!;
    const parent = { jobId: job.jobId, step: name, run: job.run };
    const data = {
      spec: childJobSpec(job, step, job.steps),
      idempotencyKey: stepIdempotencyKey(job.jobId, name, job.run),
      parent,
    };
    let childJobId: string;
    try {
      childJobId = (await this.admission.submitJob(origin, data)).jobId;
    } catch (err) {
      // Refused by the tenant's quotas, budget or pause: the step failed to start, and says why.
      if (!isRefusal(err) || typeof err.details['jobId'] !== 'string') throw err;
      await this.admission.controller(
        'record-step-outcome',
        'RecordStepOutcome',
        {
          ...parent,
          childJobId: err.details['jobId'],
          childState: 'REJECTED',
          reason: `admission refused it (${err.code}): ${err.message}`,
        },
        origin,
      );
      return;
    }
    await this.admission.controller(
      'record-step-submitted',
      'RecordStepSubmitted',
      { ...parent, childJobId },
      origin,
    );
  }

  private async cancelSteps(origin: Origin, jobId: string, reason: string): Promise<void> {
    const job = await this.admission.jobState(origin.tenant, jobId);
    if (job.state === 'NONE' || job.steps.length === 0) return;
    for (const step of job.steps) {
      if (step.state !== 'SUBMITTED' || step.childJobId === null) continue;
      try {
        await this.admission.controller(
          'cancel',
          'CancelJob',
          {
            jobId: step.childJobId,
            reason: `job ${jobId} was cancelled${reason === '' ? '' : `: ${reason}`}`,
            requestedBy: 'admission',
          },
          origin,
        );
      } catch (err) {
        // Ended already: nothing left to cancel.
        if (!isGantryError(err) || err.code !== ErrorCodes.ILLEGAL_TRANSITION) throw err;
      }
    }
  }

  /**
   * Jobs waiting on their steps, advanced again: what a trigger lost in a crash would have done.
   * Candidates come from job_summary (which may lag); each is re-read from the store.
   */
  async sweep(): Promise<number> {
    const pool = this.deps.pool;
    if (!pool) return 0;
    const { rows } = await pool.query<{ tenant: string; job_id: string }>(
      `SELECT tenant, job_id FROM job_summary
        WHERE state = 'BLOCKED' AND run > 0
        ORDER BY updated_at LIMIT 500`,
    );
    let started = 0;
    for (const row of rows) {
      const origin: Origin = {
        tenant: row.tenant,
        causationId: null,
        correlationId: `steps-sweep-${randomUUID()}`,
        actor: 'admission',
      };
      started += await this.advance(origin, row.job_id).catch(() => 0);
    }
    return started;
  }
}

const originOf = (event: EventEnvelope): Origin => ({
  tenant: event.metadata.tenant,
  causationId: event.id,
  correlationId: event.metadata.correlationId,
  actor: 'admission',
  ...(event.metadata.traceparent === undefined ? {} : { traceparent: event.metadata.traceparent }),
});
