import {
  JobSpecSchema,
  type JobCommand,
  type JobEvent,
  type JobSpec,
  type JobSpecInput,
  type OutputFile,
  type RankAssignment,
  type RetryPolicy,
} from '@gantry/contracts';
import {
  foldJob,
  type DecisionFacts,
  type JobIdentity,
  type JobState,
  type StoredFile,
} from '../src/index';

/**
 * Fixtures for the job aggregate's tests (CONVENTIONS.md, "Builders for fixtures"). Histories
 * are written as facts, by hand, not produced by `decide`: a test's "given" must not depend on
 * the code under test.
 */
export const T0 = Date.parse('2026-11-01T09:00:00.000Z');
/** The clock, `seconds` after T0: time is an input of decide. */
export const at = (seconds: number): Date => new Date(T0 + seconds * 1_000);
export const iso = (seconds: number): string => at(seconds).toISOString();
/** The default "now" of a decision: after every event a builder writes. */
export const NOW = at(1_000);

/** A stored file as a report names it: the ref and digest repeat `digit`, so each is told apart. */
export const anOutput = (name: string, digit: string, size = 3): OutputFile => ({
  name,
  ref: `file-${digit.repeat(32)}`,
  size,
  sha256: digit.repeat(64),
});

/** The artifact store's answer (D4) when it holds exactly what each file says. */
export const holding = (...files: OutputFile[]): DecisionFacts => ({
  storedFiles: new Map<string, StoredFile>(
    files.map((f) => [f.ref, { size: f.size, sha256: f.sha256 }]),
  ),
});

export const nodesOf = (count: number, prefix = 'node'): RankAssignment[] =>
  Array.from({ length: count }, (_, rank) => ({ nodeId: `${prefix}-${rank}`, rank }));

/** One step of a job's DAG as a tenant writes it (D5). */
export type StepInput = NonNullable<JobSpecInput['steps']>[number];

/** The diamond a -> (b, c) -> d: b and c both need a, d needs both. */
export const DIAMOND: readonly StepInput[] = [
  { name: 'a' },
  { name: 'b', dependsOn: ['a'] },
  { name: 'c', dependsOn: ['a'] },
  { name: 'd', dependsOn: ['b', 'c'] },
];

/** The child job a step runs as in a run, in the histories and commands below. */
export const childOf = (step: string, run = 1, jobId = 'j-1'): string => `${jobId}-${step}-r${run}`;

export class JobHistoryBuilder {
  private tenant = 'acme';
  private specInput: JobSpecInput = {
    command: ['/bin/true'],
    resources: { cpu: 1, memoryMiB: 512 },
  };
  private readonly history: JobEvent[] = [];
  private attempt = 0;
  private epoch = 0;
  private nodes: RankAssignment[] = [];
  private clock = 0;
  private run = 1;

  constructor(readonly jobId: string) {}

  forTenant(tenant: string): this {
    this.tenant = tenant;
    return this;
  }

  withNodes(count: number): this {
    this.specInput = { ...this.specInput, nodes: count };
    return this;
  }

  withMaxRuntime(seconds: number): this {
    this.specInput = { ...this.specInput, maxRuntimeSeconds: seconds };
    return this;
  }

  withRetry(retry: Partial<RetryPolicy>): this {
    this.specInput = { ...this.specInput, retry };
    return this;
  }

  /** A job with steps (D5); by default the diamond a -> (b, c) -> d. */
  withSteps(steps: readonly StepInput[] = DIAMOND): this {
    this.specInput = { ...this.specInput, steps: [...steps] };
    return this;
  }

  get spec(): JobSpec {
    return JobSpecSchema.parse(this.specInput);
  }

  get identity(): JobIdentity {
    return { tenant: this.tenant, jobId: this.jobId };
  }

  get leaseEpoch(): number {
    return this.epoch;
  }

  submitted(idempotencyKey: string | null = null): this {
    return this.push({
      type: 'JobSubmitted',
      data: { jobId: this.jobId, spec: this.spec, idempotencyKey, submittedAt: this.tick() },
    });
  }

  admitted(): this {
    return this.push({ type: 'JobAdmitted', data: { jobId: this.jobId, admittedAt: this.tick() } });
  }

  rejected(): this {
    return this.push({
      type: 'JobRejected',
      data: {
        jobId: this.jobId,
        code: 'QUOTA_EXCEEDED',
        reason: 'cores: usage 60 + request 4 would reach 100% of the quota of 64',
        details: {},
        rejectedAt: this.tick(),
      },
    });
  }

  blocked(waitingOn: string[] = ['j-upstream']): this {
    return this.push({
      type: 'JobBlocked',
      data: { jobId: this.jobId, waitingOn, blockedAt: this.tick() },
    });
  }

  queued(): this {
    return this.push({ type: 'JobQueued', data: { jobId: this.jobId, queuedAt: this.tick() } });
  }

  held(): this {
    return this.push({
      type: 'JobHeld',
      data: {
        jobId: this.jobId,
        reason: 'wait for the data',
        heldBy: 'key:acme-1',
        heldAt: this.tick(),
      },
    });
  }

  released(releasedTo: 'ADMITTED' | 'BLOCKED' | 'QUEUED' = 'QUEUED'): this {
    return this.push({
      type: 'JobReleased',
      data: { jobId: this.jobId, releasedTo, releasedBy: 'key:acme-1', releasedAt: this.tick() },
    });
  }

  leased(nodes: RankAssignment[] = nodesOf(this.spec.nodes), epoch = this.epoch + 1): this {
    this.attempt += 1;
    this.epoch = epoch;
    this.nodes = nodes;
    const leasedAt = this.tick();
    return this.push({
      type: 'JobLeased',
      data: {
        jobId: this.jobId,
        attempt: this.attempt,
        leaseEpoch: epoch,
        nodes,
        leaseExpiresAt: new Date(Date.parse(leasedAt) + 30_000).toISOString(),
        leasedAt,
      },
    });
  }

  staging(): this {
    return this.push({
      type: 'JobStagingStarted',
      data: { jobId: this.jobId, ...this.lease(), stagingStartedAt: this.tick() },
    });
  }

  started(): this {
    return this.push({
      type: 'JobStarted',
      data: { jobId: this.jobId, ...this.lease(), startedAt: this.tick() },
    });
  }

  rankExited(rank: number, exitCode: number, outputs: OutputFile[] = []): this {
    return this.push({
      type: 'RankExited',
      data: {
        jobId: this.jobId,
        ...this.lease(),
        rank,
        nodeId: this.nodes[rank]!.nodeId,
        exitCode,
        outputs,
        children: [],
        exitedAt: this.tick(),
      },
    });
  }

  progressed(progress: number): this {
    return this.push({
      type: 'JobProgressed',
      data: { jobId: this.jobId, ...this.lease(), progress, progressedAt: this.tick() },
    });
  }

  checkpointed(checkpoint: OutputFile): this {
    return this.push({
      type: 'JobCheckpointed',
      data: { jobId: this.jobId, ...this.lease(), checkpoint, checkpointedAt: this.tick() },
    });
  }

  /** One failed attempt sent back to the queue, with its backoff already over by NOW. */
  retried(reason = `attempt ${this.attempt}: rank 0 on node-0 exited with code 1`): this {
    this.push({
      type: 'AttemptFailed',
      data: {
        jobId: this.jobId,
        ...this.lease(),
        reason,
        exitCodes: this.nodes.map((_, rank) => (rank === 0 ? 1 : null)),
        failedAt: this.tick(),
      },
    });
    const scheduledAt = this.tick();
    return this.push({
      type: 'JobRetryScheduled',
      data: {
        jobId: this.jobId,
        nextAttempt: this.attempt + 1,
        backoffSeconds: 1,
        notBefore: new Date(Date.parse(scheduledAt) + 1_000).toISOString(),
        scheduledAt,
      },
    });
  }

  succeeded(): this {
    return this.push({
      type: 'JobSucceeded',
      data: {
        jobId: this.jobId,
        ...this.lease(),
        exitCodes: this.nodes.map(() => 0),
        succeededAt: this.tick(),
      },
    });
  }

  cancelRequested(reason = 'no longer needed'): this {
    return this.push({
      type: 'JobCancelRequested',
      data: { jobId: this.jobId, reason, requestedBy: 'key:acme-1', requestedAt: this.tick() },
    });
  }

  cancelled(reason = 'no longer needed'): this {
    return this.push({
      type: 'JobCancelled',
      data: { jobId: this.jobId, reason, cancelledBy: 'key:acme-1', cancelledAt: this.tick() },
    });
  }

  /** C6: the attempt's ranks were stopped for `by` and the job went straight back to the queue. */
  preempted(by = 'j-urgent', reason = 'preempted by job j-urgent'): this {
    this.push({
      type: 'AttemptPreemptionRequested',
      data: {
        jobId: this.jobId,
        ...this.lease(),
        preemptedBy: by,
        reason,
        requestedAt: this.tick(),
      },
    });
    return this.push({
      type: 'AttemptPreempted',
      data: {
        jobId: this.jobId,
        ...this.lease(),
        preemptedBy: by,
        reason,
        exitCodes: this.nodes.map(() => 143),
        preemptedAt: this.tick(),
      },
    });
  }

  failed(): this {
    return this.push({
      type: 'JobFailed',
      data: { jobId: this.jobId, attempt: this.attempt, reason: 'exit 42', failedAt: this.tick() },
    });
  }

  deadLettered(): this {
    return this.push({
      type: 'JobDeadLettered',
      data: {
        jobId: this.jobId,
        attempts: this.attempt,
        reason: 'retry budget spent',
        deadLetteredAt: this.tick(),
      },
    });
  }

  /** Admitted and blocked on its steps, as admission admits a job with steps (D5). */
  blockedOnSteps(): this {
    return this.admitted().blocked(this.spec.steps.map((step) => step.name));
  }

  stepSubmitted(step: string, childJobId = childOf(step, this.run, this.jobId)): this {
    return this.push({
      type: 'StepSubmitted',
      data: { jobId: this.jobId, step, run: this.run, childJobId, submittedAt: this.tick() },
    });
  }

  stepSucceeded(
    step: string,
    outputs: OutputFile[] = [],
    childJobId = childOf(step, this.run, this.jobId),
  ): this {
    return this.push({
      type: 'StepSucceeded',
      data: {
        jobId: this.jobId,
        step,
        run: this.run,
        childJobId,
        outputs,
        succeededAt: this.tick(),
      },
    });
  }

  /** Submitted, then succeeded: the usual life of a step. */
  stepRan(step: string, outputs: OutputFile[] = []): this {
    return this.stepSubmitted(step).stepSucceeded(step, outputs);
  }

  stepFailed(step: string, childJobId = childOf(step, this.run, this.jobId)): this {
    return this.push({
      type: 'StepFailed',
      data: {
        jobId: this.jobId,
        step,
        run: this.run,
        childJobId,
        childState: 'FAILED',
        reason: `step ${step}: job ${childJobId} ended FAILED: exit 1`,
        failedAt: this.tick(),
      },
    });
  }

  stepSkipped(step: string, because: string): this {
    return this.push({
      type: 'StepSkipped',
      data: {
        jobId: this.jobId,
        step,
        run: this.run,
        reason: `not run: it depends on step ${because}, which failed`,
        skippedAt: this.tick(),
      },
    });
  }

  stepsSucceeded(): this {
    return this.push({
      type: 'StepsSucceeded',
      data: { jobId: this.jobId, run: this.run, succeededAt: this.tick() },
    });
  }

  stepsFailed(failedSteps: string[], skippedSteps: string[] = []): this {
    return this.push({
      type: 'StepsFailed',
      data: {
        jobId: this.jobId,
        run: this.run,
        reason: `run ${this.run}: steps ${failedSteps.join(', ')} failed`,
        failedSteps,
        skippedSteps,
        failedAt: this.tick(),
      },
    });
  }

  /** The next run starts with `steps` (chosen ones and their dependents) waiting again. */
  stepsRetried(steps: string[]): this {
    this.run += 1;
    return this.push({
      type: 'StepsRetried',
      data: {
        jobId: this.jobId,
        run: this.run,
        steps,
        retriedBy: 'key:acme-1',
        retriedAt: this.tick(),
      },
    });
  }

  events(): JobEvent[] {
    return [...this.history];
  }

  state(): JobState {
    return foldJob(this.identity, this.history);
  }

  private lease(): { attempt: number; leaseEpoch: number } {
    return { attempt: this.attempt, leaseEpoch: this.epoch };
  }

  private push(event: JobEvent): this {
    this.history.push(event);
    return this;
  }

  /** Each event happens one second after the previous one, all before NOW. */
  private tick(): string {
    this.clock += 1;
    return iso(this.clock);
  }
}

export const aJob = (jobId = 'j-1'): JobHistoryBuilder => new JobHistoryBuilder(jobId);

/** Commands for one job, valid by default (CONVENTIONS.md: one change per call). */
export const commandsFor = (jobId = 'j-1') => ({
  submit: (spec: JobSpec, idempotencyKey: string | null = null): JobCommand => ({
    type: 'SubmitJob',
    data: { spec, idempotencyKey },
  }),
  admit: (andQueue = false): JobCommand => ({ type: 'AdmitJob', data: { jobId, andQueue } }),
  reject: (): JobCommand => ({
    type: 'RejectJob',
    data: { jobId, code: 'QUOTA_EXCEEDED', reason: 'over the cores quota', details: { cores: 64 } },
  }),
  block: (waitingOn = ['j-upstream']): JobCommand => ({
    type: 'BlockJob',
    data: { jobId, waitingOn },
  }),
  queue: (): JobCommand => ({ type: 'QueueJob', data: { jobId } }),
  hold: (): JobCommand => ({
    type: 'HoldJob',
    data: { jobId, reason: 'hold it', heldBy: 'key:acme-1' },
  }),
  release: (): JobCommand => ({ type: 'ReleaseJob', data: { jobId, releasedBy: 'key:acme-1' } }),
  lease: (
    leaseEpoch: number,
    nodes: RankAssignment[],
    leaseExpiresAt = iso(2_000),
  ): JobCommand => ({
    type: 'LeaseJob',
    data: { jobId, leaseEpoch, nodes, leaseExpiresAt },
  }),
  stage: (leaseEpoch: number): JobCommand => ({
    type: 'StartStaging',
    data: { jobId, leaseEpoch },
  }),
  start: (leaseEpoch: number): JobCommand => ({
    type: 'StartAttempt',
    data: { jobId, leaseEpoch },
  }),
  exit: (
    leaseEpoch: number,
    rank: number,
    exitCode: number,
    retryJitter = 0.5,
    cause: 'exited' | 'max-runtime' = 'exited',
    outputs: OutputFile[] = [],
  ): JobCommand => ({
    type: 'ReportAttemptExit',
    data: { jobId, leaseEpoch, rank, exitCode, cause, outputs, children: [], retryJitter },
  }),
  progress: (leaseEpoch: number, rank: number, progress: number): JobCommand => ({
    type: 'ReportProgress',
    data: { jobId, leaseEpoch, rank, progress },
  }),
  checkpoint: (leaseEpoch: number, rank: number, checkpoint: OutputFile): JobCommand => ({
    type: 'ReportCheckpoint',
    data: { jobId, leaseEpoch, rank, checkpoint },
  }),
  nodeLost: (leaseEpoch: number, nodeId: string, retryJitter = 0.5): JobCommand => ({
    type: 'ReportNodeLost',
    data: { jobId, leaseEpoch, nodeId, retryJitter },
  }),
  expire: (leaseEpoch: number, retryJitter = 0.5): JobCommand => ({
    type: 'ExpireLease',
    data: { jobId, leaseEpoch, retryJitter },
  }),
  cancel: (reason = 'no longer needed'): JobCommand => ({
    type: 'CancelJob',
    data: { jobId, reason, requestedBy: 'key:acme-1' },
  }),
  preempt: (leaseEpoch: number, preemptedBy = 'j-urgent'): JobCommand => ({
    type: 'PreemptAttempt',
    data: { jobId, leaseEpoch, preemptedBy, reason: `preempted by job ${preemptedBy}` },
  }),
  stepSubmitted: (step: string, run = 1, childJobId = childOf(step, run, jobId)): JobCommand => ({
    type: 'RecordStepSubmitted',
    data: { jobId, step, run, childJobId },
  }),
  /** A step's child ended: SUCCEEDED with its committed outputs, or how it failed. */
  stepOutcome: (
    step: string,
    childState: 'SUCCEEDED' | 'FAILED' | 'DEAD_LETTER' | 'CANCELLED' | 'REJECTED' = 'SUCCEEDED',
    {
      run = 1,
      outputs = [] as OutputFile[],
      reason = childState === 'SUCCEEDED' ? '' : 'exit 1',
      childJobId = childOf(step, run, jobId),
    } = {},
  ): JobCommand => ({
    type: 'RecordStepOutcome',
    data: { jobId, step, run, childJobId, childState, reason, outputs },
  }),
  /** Without `steps`: the failed and skipped ones. */
  retrySteps: (steps?: string[]): JobCommand => ({
    type: 'RetrySteps',
    data: { jobId, ...(steps === undefined ? {} : { steps }), retriedBy: 'key:acme-1' },
  }),
});
