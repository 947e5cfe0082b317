import { z } from 'zod';
import { ChildJobRequestsSchema, JobSpecSchema } from '../job-spec';
import { defineMessage, type MessageOf } from '../registry';
import {
  OutputFileSchema,
  OutputFilesSchema,
  RankAssignmentSchema,
  StepOfSchema,
} from '../events/job.events';

/**
 * Commands: intents, named in the imperative. The answer may be a refusal. The job aggregate
 * (@gantry/domain) decides each one against the job's state; these are their wire shapes.
 *
 * A command addresses an existing job by `jobId`, except SubmitJob: the job's identity (tenant
 * and id) is the stream the handler opens, chosen before the job exists.
 *
 * Worker-side commands carry the `leaseEpoch` of the lease they act under; a stale one is
 * refused (ARCHITECTURE.md invariant 5). Commands that may end an attempt carry `retryJitter`,
 * the random draw for the retry's full-jitter backoff: randomness is an input, so a decision
 * replays the same (CONVENTIONS.md, "time, ids and randomness are inputs").
 */
const JobIdField = z.string().min(1).max(128);
const LeaseEpochField = z.number().int().min(1);
const Actor = z.string().min(1).max(200);
/** A uniform draw in [0, 1): the backoff is `retryJitter * min(max, initial * 2^(n-1))`. */
const RetryJitter = z.number().min(0).lt(1);

/** `parent`: only admission sets it, submitting a step of a job with steps (D5). */
export const SubmitJob = defineMessage(
  'SubmitJob',
  1,
  z.strictObject({
    spec: JobSpecSchema,
    idempotencyKey: z.string().min(1).max(256).nullable(),
    parent: StepOfSchema.optional(),
  }),
);
/**
 * `andQueue`: a job with nothing to wait for goes on to the queue in the same decision, one
 * append instead of two for the common case; the job's history is the same two facts.
 */
export const AdmitJob = defineMessage(
  'AdmitJob',
  2,
  z.strictObject({ jobId: JobIdField, andQueue: z.boolean().default(false) }),
  { 1: (data) => ({ ...data, andQueue: false }) },
);
export const RejectJob = defineMessage(
  'RejectJob',
  1,
  z.strictObject({
    jobId: JobIdField,
    code: z.string().min(1).max(100),
    reason: z.string().min(1).max(2_000),
    details: z.record(z.string(), z.unknown()).default({}),
  }),
);
export const BlockJob = defineMessage(
  'BlockJob',
  1,
  z.strictObject({
    jobId: JobIdField,
    waitingOn: z.array(z.string().min(1).max(200)).min(1).max(256),
  }),
);
export const QueueJob = defineMessage('QueueJob', 1, z.strictObject({ jobId: JobIdField }));
export const HoldJob = defineMessage(
  'HoldJob',
  1,
  z.strictObject({ jobId: JobIdField, reason: z.string().max(2_000).default(''), heldBy: Actor }),
);
export const ReleaseJob = defineMessage(
  'ReleaseJob',
  1,
  z.strictObject({ jobId: JobIdField, releasedBy: Actor }),
);
/** From the scheduler, which owns leases and their epochs; the job checks they only grow. */
export const LeaseJob = defineMessage(
  'LeaseJob',
  1,
  z.strictObject({
    jobId: JobIdField,
    leaseEpoch: LeaseEpochField,
    nodes: z.array(RankAssignmentSchema).min(1).max(1_024),
    leaseExpiresAt: z.iso.datetime({ offset: true }),
  }),
);
export const StartStaging = defineMessage(
  'StartStaging',
  1,
  z.strictObject({ jobId: JobIdField, leaseEpoch: LeaseEpochField }),
);
export const StartAttempt = defineMessage(
  'StartAttempt',
  1,
  z.strictObject({ jobId: JobIdField, leaseEpoch: LeaseEpochField }),
);
/**
 * One rank's process exited (from the agent running it). v2 adds `cause`: `max-runtime` when the
 * agent killed it at the spec's maxRuntimeSeconds (D6: FAILED with that reason, not retried; the
 * same limit would stop every retry); `exited` otherwise, and for v1 senders. v3 adds `outputs`
 * (D4): on a clean exit of rank 0, the files of its output directory as the agent uploaded them.
 * The controller checks each against what the artifact store holds before the job decides.
 * `children` (D5 fan-out): on a clean exit of rank 0, the child jobs its manifest asks for.
 */
export const ReportAttemptExit = defineMessage(
  'ReportAttemptExit',
  3,
  z.strictObject({
    jobId: JobIdField,
    leaseEpoch: LeaseEpochField,
    rank: z.number().int().min(0).max(1_023),
    exitCode: z.number().int().min(0).max(255),
    cause: z.enum(['exited', 'max-runtime']).default('exited'),
    outputs: OutputFilesSchema.default([]),
    children: ChildJobRequestsSchema.default([]),
    retryJitter: RetryJitter,
  }),
  {
    1: (data) => ({ ...data, cause: 'exited' }),
    2: (data) => ({ ...data, outputs: [] }),
  },
);
/** A running rank's progress, 0 to 1, read from its progress file (D7). */
export const ReportProgress = defineMessage(
  'ReportProgress',
  1,
  z.strictObject({
    jobId: JobIdField,
    leaseEpoch: LeaseEpochField,
    rank: z.number().int().min(0).max(1_023),
    progress: z.number().min(0).max(1),
  }),
);
/** A running rank saved a checkpoint, uploaded like an output and verified the same way (D7). */
export const ReportCheckpoint = defineMessage(
  'ReportCheckpoint',
  1,
  z.strictObject({
    jobId: JobIdField,
    leaseEpoch: LeaseEpochField,
    rank: z.number().int().min(0).max(1_023),
    checkpoint: OutputFileSchema,
  }),
);
/** A node of the gang missed its heartbeats (D2); from the controller's detector. */
export const ReportNodeLost = defineMessage(
  'ReportNodeLost',
  1,
  z.strictObject({
    jobId: JobIdField,
    leaseEpoch: LeaseEpochField,
    nodeId: z.string().min(1).max(128),
    retryJitter: RetryJitter,
  }),
);
/**
 * The scheduler reaped the lease (C4). Renewals live on the scheduler's lease stream, not the
 * job's, so the job does not second-guess the expiry time; it only checks the epoch.
 */
export const ExpireLease = defineMessage(
  'ExpireLease',
  1,
  z.strictObject({ jobId: JobIdField, leaseEpoch: LeaseEpochField, retryJitter: RetryJitter }),
);
/**
 * The scheduler frees an attempt's nodes for a job of a higher priority class (C6). Fenced like a
 * worker report: a preemption decided against an attempt that has since ended changes nothing.
 */
export const PreemptAttempt = defineMessage(
  'PreemptAttempt',
  1,
  z.strictObject({
    jobId: JobIdField,
    leaseEpoch: LeaseEpochField,
    preemptedBy: JobIdField,
    reason: z.string().min(1).max(2_000),
  }),
);
/** `requestedBy` is optional on the wire for v1 senders; handlers fill it from the actor. */
export const CancelJob = defineMessage(
  'CancelJob',
  1,
  z.strictObject({
    jobId: JobIdField,
    reason: z.string().max(2_000).default(''),
    requestedBy: Actor.optional(),
  }),
);

/*
 * Steps (D5): admission runs a job's steps and tells the job what became of each; a tenant asks
 * for a retry. The job decides each against its run, so a repeat or a stale report is a no-op.
 */
const StepNameField = z.string().min(1).max(64);

export const RecordStepSubmitted = defineMessage(
  'RecordStepSubmitted',
  1,
  z.strictObject({
    jobId: JobIdField,
    step: StepNameField,
    run: z.number().int().min(1),
    childJobId: JobIdField,
  }),
);
export const RecordStepOutcome = defineMessage(
  'RecordStepOutcome',
  1,
  z.strictObject({
    jobId: JobIdField,
    step: StepNameField,
    run: z.number().int().min(1),
    childJobId: JobIdField,
    childState: z.enum(['SUCCEEDED', 'FAILED', 'DEAD_LETTER', 'CANCELLED', 'REJECTED']),
    reason: z.string().max(4_000).default(''),
    outputs: OutputFilesSchema.default([]),
  }),
);
/** `steps`: the ones to run again (with their dependents); by default the failed and skipped. */
export const RetrySteps = defineMessage(
  'RetrySteps',
  1,
  z.strictObject({
    jobId: JobIdField,
    steps: z.array(StepNameField).max(1_000).optional(),
    retriedBy: Actor,
  }),
);

export const jobCommandDefinitions = [
  SubmitJob,
  AdmitJob,
  RejectJob,
  BlockJob,
  QueueJob,
  HoldJob,
  ReleaseJob,
  LeaseJob,
  StartStaging,
  StartAttempt,
  ReportAttemptExit,
  ReportProgress,
  ReportCheckpoint,
  ReportNodeLost,
  ExpireLease,
  CancelJob,
  PreemptAttempt,
  RecordStepSubmitted,
  RecordStepOutcome,
  RetrySteps,
] as const;

/** The union of job commands, derived from the definitions: `{ type, data }`, readonly data. */
export type JobCommand = MessageOf<(typeof jobCommandDefinitions)[number]>;
export type JobCommandType = JobCommand['type'];
