import { z } from 'zod';
import { ChildJobRequestsSchema, JobSpecSchema } from '../job-spec';
import { FileIdSchema, FileNameSchema, FileSizeSchema, Sha256HexSchema } from './file.events';
import { defineMessage, type MessageOf } from '../registry';

/**
 * Job events: facts, named in the past tense. The controller is their only writer
 * (ARCHITECTURE.md), through the job aggregate in @gantry/domain, which holds the state machine
 * these facts move through (FEATURES.md D1).
 *
 * Every fact the lifecycle added carries its own time in its data (`queuedAt`, `startedAt`, ...):
 * the aggregate folds data only, so a replay needs no envelope to know when things happened.
 * JobSubmitted, JobRejected and JobCancelled predate that; each gained an optional time field.
 * Optional keeps every recorded event readable at its version, which a new required field
 * would not; readers fall back to the envelope's `occurredAt` where it is absent.
 *
 * Intent and fact are named apart (as Armada does): JobCancelRequested is what someone asked
 * for while processes may still run; JobCancelled is the fact once nothing runs.
 */
const JobId = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/);
const Timestamp = z.iso.datetime({ offset: true });
const Attempt = z.number().int().min(1);
const LeaseEpoch = z.number().int().min(1);
const Reason = z.string().min(1).max(4_000);
const Rank = z.number().int().min(0).max(1_023);
/** A process exit status; 128 + n is the shell's convention for "killed by signal n". */
const ExitCode = z.number().int().min(0).max(255);
const NodeId = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/);

/** One node of the gang and the rank it runs (rank 0 coordinates: FEATURES.md E3). */
export const RankAssignmentSchema = z.strictObject({ nodeId: NodeId, rank: Rank });
export type RankAssignment = z.output<typeof RankAssignmentSchema>;

/** Per-rank exit codes of one attempt, indexed by rank; null where a rank never reported. */
export const ExitCodesSchema = z.array(ExitCode.nullable()).max(1_024);

/**
 * JobSubmitted v1 was the pre-release shape: memory in decimal megabytes (`memoryMb`) and the
 * gang size named `nodeCount`. v2 uses MiB and `nodes`, as the public spec does.
 */
const JobSubmittedV1 = z.object({
  jobId: JobId,
  spec: z
    .object({ nodeCount: z.number(), resources: z.object({ memoryMb: z.number() }).passthrough() })
    .passthrough(),
  idempotencyKey: z.string().nullable(),
});

/** The step of a job with steps (D5) that a job runs, and in which run of that job's steps. */
export const StepOfSchema = z.strictObject({
  jobId: JobId,
  step: z.string().min(1).max(64),
  run: z.number().int().min(1),
});
export type StepOf = z.output<typeof StepOfSchema>;

export const JobSubmittedData = z.strictObject({
  jobId: JobId,
  spec: JobSpecSchema,
  idempotencyKey: z.string().max(256).nullable(),
  /** Set when the job is a step of another job (D5): who to tell when it ends. */
  parent: StepOfSchema.optional(),
  submittedAt: Timestamp.optional(),
});

const MB_PER_MIB = 1.048576;

export const JobSubmitted = defineMessage('JobSubmitted', 2, JobSubmittedData, {
  1: (data) => {
    const v1 = JobSubmittedV1.parse(data);
    const { nodeCount, resources, ...restOfSpec } = v1.spec;
    const { memoryMb, ...restOfResources } = resources;
    return {
      ...v1,
      spec: {
        ...restOfSpec,
        nodes: nodeCount,
        resources: { ...restOfResources, memoryMiB: Math.ceil(memoryMb / MB_PER_MIB) },
      },
    };
  },
});

export const JobAdmittedData = z.strictObject({
  jobId: JobId,
  admittedAt: Timestamp,
});
export const JobAdmitted = defineMessage('JobAdmitted', 1, JobAdmittedData);

export const JobRejectedData = z.strictObject({
  jobId: JobId,
  code: z.string().min(1),
  reason: z.string().min(1).max(2_000),
  details: z.record(z.string(), z.unknown()).default({}),
  rejectedAt: Timestamp.optional(),
});
export const JobRejected = defineMessage('JobRejected', 1, JobRejectedData);

/** Waiting on dependencies (D1 BLOCKED): nothing may be leased until they are done. */
export const JobBlockedData = z.strictObject({
  jobId: JobId,
  waitingOn: z.array(z.string().min(1).max(200)).min(1).max(1_000),
  blockedAt: Timestamp,
});
export const JobBlocked = defineMessage('JobBlocked', 1, JobBlockedData);

/** In the queue: the scheduler may lease it. */
export const JobQueuedData = z.strictObject({
  jobId: JobId,
  queuedAt: Timestamp,
});
export const JobQueued = defineMessage('JobQueued', 1, JobQueuedData);

export const JobHeldData = z.strictObject({
  jobId: JobId,
  reason: z.string().max(2_000),
  heldBy: z.string().min(1).max(200),
  heldAt: Timestamp,
});
export const JobHeld = defineMessage('JobHeld', 1, JobHeldData);

/** `releasedTo` is where the hold found the job: the fact says where it went, for every reader. */
export const JobReleasedData = z.strictObject({
  jobId: JobId,
  releasedTo: z.enum(['ADMITTED', 'BLOCKED', 'QUEUED']),
  releasedBy: z.string().min(1).max(200),
  releasedAt: Timestamp,
});
export const JobReleased = defineMessage('JobReleased', 1, JobReleasedData);

/**
 * The gang's nodes are locked by the lease (E3): all of them, each with its rank. The epoch is
 * the fencing token every worker-side report must carry (ARCHITECTURE.md invariant 5).
 */
export const JobLeasedData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  nodes: z.array(RankAssignmentSchema).min(1).max(1_024),
  leaseExpiresAt: Timestamp,
  leasedAt: Timestamp,
});
export const JobLeased = defineMessage('JobLeased', 1, JobLeasedData);

export const JobStagingStartedData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  stagingStartedAt: Timestamp,
});
export const JobStagingStarted = defineMessage('JobStagingStarted', 1, JobStagingStartedData);

/** The attempt's processes are running (D1 RUNNING). */
export const JobStartedData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  startedAt: Timestamp,
});
export const JobStarted = defineMessage('JobStarted', 1, JobStartedData);

/**
 * One file an attempt left in its output directory (D4), as the artifact store holds it: `ref` is
 * the staged file (fresh for every upload, so no attempt can overwrite another's bytes), `size`
 * and `sha256` what staging measured while storing it.
 */
export const OutputFileSchema = z.strictObject({
  name: FileNameSchema,
  ref: FileIdSchema,
  size: FileSizeSchema,
  sha256: Sha256HexSchema,
});
export type OutputFile = z.output<typeof OutputFileSchema>;
export const OutputFilesSchema = z
  .array(OutputFileSchema)
  .max(1_000)
  .refine(
    (outputs) => new Set(outputs.map((o) => o.name)).size === outputs.length,
    'output names are unique',
  );

/**
 * One rank's process exited. The attempt's outcome follows from all of them (gang semantics).
 * v2 adds `outputs`: what rank 0 uploaded from its output directory, verified but not yet the
 * job's; they are committed (OutputsCommitted) only with the attempt's success.
 */
export const RankExitedData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  rank: Rank,
  nodeId: NodeId,
  exitCode: ExitCode,
  outputs: OutputFilesSchema.default([]),
  /** Rank 0's clean exit: the child jobs its manifest asked for (D5), not the job's until it succeeds. */
  children: ChildJobRequestsSchema.default([]),
  exitedAt: Timestamp,
});
export const RankExited = defineMessage('RankExited', 2, RankExitedData, {
  1: (data) => ({ ...data, outputs: [] }),
});

/**
 * The job's outputs (D4), committed in the same append as the JobSucceeded they belong to, under
 * the epoch of the attempt that made them: a job has at most one such event in its history.
 */
export const OutputsCommittedData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  outputs: OutputFilesSchema.min(1),
  committedAt: Timestamp,
});
export const OutputsCommitted = defineMessage('OutputsCommitted', 1, OutputsCommittedData);

/** A running attempt's own estimate of how far it is, 0 to 1 (D7). */
export const JobProgressedData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  progress: z.number().min(0).max(1),
  progressedAt: Timestamp,
});
export const JobProgressed = defineMessage('JobProgressed', 1, JobProgressedData);

/**
 * A running attempt saved a checkpoint (D7), stored and verified like an output; the job's last
 * one is handed to its next attempt (GANTRY_CHECKPOINT) so a retry resumes instead of restarting.
 */
export const JobCheckpointedData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  checkpoint: OutputFileSchema,
  checkpointedAt: Timestamp,
});
export const JobCheckpointed = defineMessage('JobCheckpointed', 1, JobCheckpointedData);

/** The lease lapsed (reaped by the scheduler): the attempt is over, whatever its processes do. */
export const LeaseExpiredData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  expiredAt: Timestamp,
});
export const LeaseExpired = defineMessage('LeaseExpired', 1, LeaseExpiredData);

/**
 * One attempt failed: a rank exited non-zero, or a node of the gang was lost. A job-level fact
 * (retry scheduled, failed, dead-lettered) always follows it in the same decision.
 */
export const AttemptFailedData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  reason: Reason,
  exitCodes: ExitCodesSchema,
  nodeLost: NodeId.optional(),
  /**
   * Why the failing rank stopped: it exited by itself, or the agent killed it at the job's
   * maxRuntimeSeconds (which says nothing of the node, so the breaker does not count it).
   * Absent on a lost node's failure, and on events older than the field.
   */
  cause: z.enum(['exited', 'max-runtime']).optional(),
  failedAt: Timestamp,
});
export const AttemptFailed = defineMessage('AttemptFailed', 1, AttemptFailedData);

/** Back to the queue for another attempt, after a backoff (D3). */
export const JobRetryScheduledData = z.strictObject({
  jobId: JobId,
  nextAttempt: z.number().int().min(2),
  backoffSeconds: z.number().min(0),
  notBefore: Timestamp,
  scheduledAt: Timestamp,
});
export const JobRetryScheduled = defineMessage('JobRetryScheduled', 1, JobRetryScheduledData);

export const JobSucceededData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  exitCodes: ExitCodesSchema,
  succeededAt: Timestamp,
});
export const JobSucceeded = defineMessage('JobSucceeded', 1, JobSucceededData);

/** Failed for good without spending the budget: a non-retryable exit code. */
export const JobFailedData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  reason: Reason,
  failedAt: Timestamp,
});
export const JobFailed = defineMessage('JobFailed', 1, JobFailedData);

/** The retry budget is spent; `reason` names every attempt's failure, so nothing is lost (D6). */
export const JobDeadLetteredData = z.strictObject({
  jobId: JobId,
  attempts: Attempt,
  reason: Reason,
  deadLetteredAt: Timestamp,
});
export const JobDeadLettered = defineMessage('JobDeadLettered', 1, JobDeadLetteredData);

/**
 * Preemption (C6), the intent: a job of a higher priority class needs the attempt's nodes. The
 * lease stays live while the agents signal the ranks and wait out the grace period, so a
 * checkpoint written in that time is still recorded under the attempt's epoch (D7).
 */
export const AttemptPreemptionRequestedData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  /** The job the nodes are freed for. */
  preemptedBy: JobId,
  reason: Reason,
  requestedAt: Timestamp,
});
export const AttemptPreemptionRequested = defineMessage(
  'AttemptPreemptionRequested',
  1,
  AttemptPreemptionRequestedData,
);

/**
 * Preemption, the fact: every rank of the attempt has stopped (or the lease ended) and the job is
 * back in the queue at once, with no backoff. Not a failure: it spends none of the retry budget.
 */
export const AttemptPreemptedData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  preemptedBy: JobId,
  reason: Reason,
  exitCodes: ExitCodesSchema,
  preemptedAt: Timestamp,
});
export const AttemptPreempted = defineMessage('AttemptPreempted', 1, AttemptPreemptedData);

/** The intent: processes may still run; agents must kill them and report each rank's exit. */
export const JobCancelRequestedData = z.strictObject({
  jobId: JobId,
  reason: z.string().max(2_000),
  requestedBy: z.string().min(1).max(200),
  requestedAt: Timestamp,
});
export const JobCancelRequested = defineMessage('JobCancelRequested', 1, JobCancelRequestedData);

/** The fact: the job is cancelled and nothing of it runs any longer. */
export const JobCancelledData = z.strictObject({
  jobId: JobId,
  reason: z.string().max(2_000),
  cancelledBy: z.string().min(1).max(200),
  cancelledAt: Timestamp.optional(),
});
export const JobCancelled = defineMessage('JobCancelled', 1, JobCancelledData);

/*
 * Steps (D5). A job with steps runs none of its own: from BLOCKED it has each step run as a job of
 * its own (a child, submitted through admission like any job), in dependency order, and records
 * what became of each. The run number grows with every retry of the job's steps; a child's facts
 * count only for the run that submitted it, so a late report from an earlier run changes nothing.
 *
 *   BLOCKED --StepSubmitted | StepSucceeded | StepFailed | StepSkipped--> BLOCKED
 *   BLOCKED --StepsSucceeded--> SUCCEEDED      every step succeeded
 *   BLOCKED --StepsFailed-----> FAILED         every step ended, some failed or were skipped
 *   FAILED | SUCCEEDED --StepsRetried--> BLOCKED   the chosen steps (by default the failed and
 *                                                  skipped ones) and their dependents run again;
 *                                                  the others keep their committed outputs
 */
const StepName = z.string().min(1).max(64);
const Run = z.number().int().min(1);

export const StepSubmittedData = z.strictObject({
  jobId: JobId,
  step: StepName,
  run: Run,
  childJobId: JobId,
  submittedAt: Timestamp,
});
export const StepSubmitted = defineMessage('StepSubmitted', 1, StepSubmittedData);

export const StepSucceededData = z.strictObject({
  jobId: JobId,
  step: StepName,
  run: Run,
  childJobId: JobId,
  /** The child's committed outputs: its dependents' inputs, reused by every later run. */
  outputs: OutputFilesSchema,
  succeededAt: Timestamp,
});
export const StepSucceeded = defineMessage('StepSucceeded', 1, StepSucceededData);

export const StepFailedData = z.strictObject({
  jobId: JobId,
  step: StepName,
  run: Run,
  childJobId: JobId,
  /** Where the child ended: FAILED, DEAD_LETTER, CANCELLED or REJECTED (refused by admission). */
  childState: z.enum(['FAILED', 'DEAD_LETTER', 'CANCELLED', 'REJECTED']),
  reason: Reason,
  failedAt: Timestamp,
});
export const StepFailed = defineMessage('StepFailed', 1, StepFailedData);

/** Not run, because a step it depends on (directly or not) failed: the reason names which. */
export const StepSkippedData = z.strictObject({
  jobId: JobId,
  step: StepName,
  run: Run,
  reason: Reason,
  skippedAt: Timestamp,
});
export const StepSkipped = defineMessage('StepSkipped', 1, StepSkippedData);

/**
 * Fan-out (D5): the attempt ended cleanly and asked for child jobs. Instead of succeeding, the job
 * ends its lease and waits (BLOCKED) for its children, which run as its steps; it ends with them.
 * Appended with the attempt's last RankExited (and its OutputsCommitted), under the live epoch.
 */
export const JobFannedOutData = z.strictObject({
  jobId: JobId,
  attempt: Attempt,
  leaseEpoch: LeaseEpoch,
  exitCodes: ExitCodesSchema,
  children: ChildJobRequestsSchema,
  fannedOutAt: Timestamp,
});
export const JobFannedOut = defineMessage('JobFannedOut', 1, JobFannedOutData);

export const StepsSucceededData = z.strictObject({
  jobId: JobId,
  run: Run,
  succeededAt: Timestamp,
});
export const StepsSucceeded = defineMessage('StepsSucceeded', 1, StepsSucceededData);

export const StepsFailedData = z.strictObject({
  jobId: JobId,
  run: Run,
  reason: Reason,
  failedSteps: z.array(StepName).max(1_000),
  skippedSteps: z.array(StepName).max(1_000),
  failedAt: Timestamp,
});
export const StepsFailed = defineMessage('StepsFailed', 1, StepsFailedData);

export const StepsRetriedData = z.strictObject({
  jobId: JobId,
  run: Run,
  /** The steps that run again, chosen ones and their dependents; the rest are reused. */
  steps: z.array(StepName).min(1).max(1_000),
  retriedBy: z.string().min(1).max(200),
  retriedAt: Timestamp,
});
export const StepsRetried = defineMessage('StepsRetried', 1, StepsRetriedData);

export const jobEventDefinitions = [
  JobSubmitted,
  JobAdmitted,
  JobRejected,
  JobBlocked,
  JobQueued,
  JobHeld,
  JobReleased,
  JobLeased,
  JobStagingStarted,
  JobStarted,
  RankExited,
  OutputsCommitted,
  JobProgressed,
  JobCheckpointed,
  LeaseExpired,
  AttemptFailed,
  JobRetryScheduled,
  JobSucceeded,
  JobFailed,
  JobDeadLettered,
  JobCancelRequested,
  JobCancelled,
  AttemptPreemptionRequested,
  AttemptPreempted,
  StepSubmitted,
  StepSucceeded,
  StepFailed,
  StepSkipped,
  StepsSucceeded,
  StepsFailed,
  StepsRetried,
  JobFannedOut,
] as const;

/** The union of job events, derived from the definitions so the two cannot drift apart. */
export type JobEvent = MessageOf<(typeof jobEventDefinitions)[number]>;
export type JobEventType = JobEvent['type'];
export type JobEventOfType<T extends JobEventType> = Extract<JobEvent, { type: T }>;
