import { z } from 'zod';
import {
  CommandSchema,
  EnvSchema,
  InputSchema,
  OutputSchema,
  ResourcesSchema,
  RuntimeKindSchema,
} from './job-spec';
import { SubjectTokenSchema, TenantIdSchema } from './ids';

/**
 * Agent traffic (ARCHITECTURE.md, "Agent traffic: <ns>.node.<nodeId>.>"). These are messages, not
 * events: an agent owns nothing in the store and reports facts; the scheduler turns what it hears
 * into its own soft state (capacity, liveness) and the controller into job facts.
 *
 *   <ns>.cmd.scheduler.enrol-node    agent -> scheduler   EnrolNodeRequest / EnrolNodeReply
 *   <ns>.node.<nodeId>.heartbeat     agent -> scheduler   NodeHeartbeat, answered by NodeLeaseSet
 *   <ns>.node.<nodeId>.lease         scheduler -> agent   LeaseOffer (one rank of a gang)
 *   <ns>.node.<nodeId>.kill          scheduler -> agent   KillAttempt
 *   <ns>.log.<tenant>.<job>.<attempt>.<rank>   agent -> JetStream -> log relay   LogChunk
 *
 * The heartbeat reply carries every lease the node should hold: an agent starts what it lacks and
 * kills what is not listed (a lost or ended lease), so a dropped push or kill costs one heartbeat,
 * never a stuck job or an orphan process.
 */
export const NODE_SUBJECT_KINDS = {
  heartbeat: 'heartbeat',
  lease: 'lease',
  kill: 'kill',
} as const;

export const NodeIdSchema = SubjectTokenSchema;

export const NodeCapacitySchema = z.strictObject({
  cpu: z.number().positive().max(100_000),
  memoryMiB: z.number().int().positive().max(1_073_741_824),
  gpu: z.number().int().min(0).max(1_024).default(0),
});
export type NodeCapacity = z.output<typeof NodeCapacitySchema>;

const LabelsSchema = z
  .record(z.string().min(1).max(128), z.string().max(256))
  .refine((labels) => Object.keys(labels).length <= 64, 'at most 64 labels');

const NodeDescriptionFields = {
  nodeId: NodeIdSchema,
  /** The pools this node serves (C1: a node can be in several). */
  pools: z.array(SubjectTokenSchema).min(1).max(32),
  labels: LabelsSchema.default({}),
  capacity: NodeCapacitySchema,
  hostname: z.string().min(1).max(255),
};

export const EnrolNodeRequestSchema = z.strictObject({
  ...NodeDescriptionFields,
  /** The shared enrolment secret an operator gave the agent (GANTRY_ENROL_TOKEN). */
  enrolToken: z.string().min(1).max(1_024),
});
export type EnrolNodeRequest = z.output<typeof EnrolNodeRequestSchema>;

export const EnrolNodeReplySchema = z.strictObject({
  nodeId: NodeIdSchema,
  /** Proves the node's identity on every heartbeat; derived by the scheduler, never stored. */
  nodeToken: z.string().min(1).max(1_024),
  heartbeatIntervalMs: z.number().int().positive(),
  leaseTtlMs: z.number().int().positive(),
});
export type EnrolNodeReply = z.output<typeof EnrolNodeReplySchema>;

/** What a node runs right now, per rank: how leases are renewed and orphans found. */
export const RunningRankSchema = z.strictObject({
  tenant: TenantIdSchema,
  jobId: SubjectTokenSchema,
  attempt: z.number().int().min(1),
  leaseEpoch: z.number().int().min(1),
  rank: z.number().int().min(0).max(1_023),
});
export type RunningRank = z.output<typeof RunningRankSchema>;

export const NodeHeartbeatSchema = z.strictObject({
  ...NodeDescriptionFields,
  nodeToken: z.string().min(1).max(1_024),
  /** Strictly increasing per agent process: a delayed heartbeat never overrides a newer one. */
  sequence: z.number().int().min(0),
  running: z.array(RunningRankSchema).max(4_096),
  sentAt: z.iso.datetime({ offset: true }),
});
export type NodeHeartbeat = z.output<typeof NodeHeartbeatSchema>;

/** One rank of a gang, offered to the node that runs it (E3: GANTRY_* env comes from this). */
export const LeaseOfferSchema = z.strictObject({
  tenant: TenantIdSchema,
  jobId: SubjectTokenSchema,
  attempt: z.number().int().min(1),
  leaseEpoch: z.number().int().min(1),
  rank: z.number().int().min(0).max(1_023),
  worldSize: z.number().int().min(1).max(1_024),
  /** Node ids (their hostnames are what the job sees) by rank; rank 0 coordinates. */
  hosts: z.array(z.string().min(1).max(255)).min(1).max(1_024),
  coordinator: z.string().min(1).max(255),
  leaseExpiresAt: z.iso.datetime({ offset: true }),
  command: CommandSchema,
  env: EnvSchema.default({}),
  resources: ResourcesSchema,
  runtime: RuntimeKindSchema.default('shell'),
  maxRuntimeSeconds: z.number().int().positive().optional(),
  inputs: z.array(InputSchema).max(1_000).default([]),
  /**
   * The spec's declared outputs (D4): files rank 0 must leave at these paths in its work dir. Left
   * out of the offer when there are none, so an agent that predates them still takes the job.
   */
  outputs: z.array(OutputSchema).max(1_000).optional(),
});
export type LeaseOffer = z.output<typeof LeaseOfferSchema>;

/** The heartbeat's answer: every lease this node should hold, and nothing else. */
export const NodeLeaseSetSchema = z.strictObject({
  /** False when the scheduler does not know the node (not enrolled, or a bad token): re-enrol. */
  accepted: z.boolean(),
  leases: z.array(LeaseOfferSchema).max(4_096),
});
export type NodeLeaseSet = z.output<typeof NodeLeaseSetSchema>;

/** `preempted`: the agent gives the ranks a longer grace period, to write a checkpoint (C6, D7). */
export const KillReasonSchema = z.enum([
  'cancelled',
  'lease-lost',
  'gang-failed',
  'node-lost',
  'preempted',
]);
export const KillAttemptSchema = z.strictObject({
  tenant: TenantIdSchema,
  jobId: SubjectTokenSchema,
  leaseEpoch: z.number().int().min(1),
  reason: KillReasonSchema,
});
export type KillAttempt = z.output<typeof KillAttemptSchema>;

/**
 * One piece of one rank's output. `seq` is dense per (job, attempt, rank) from 0, so a reader knows
 * when it has everything up to a point and a writer's redelivery is recognised. The last chunk of
 * a rank has `eof: true` and carries the rank's exit code; it may have empty `data`.
 */
export const LogChunkSchema = z.strictObject({
  tenant: TenantIdSchema,
  jobId: SubjectTokenSchema,
  attempt: z.number().int().min(1),
  rank: z.number().int().min(0).max(1_023),
  leaseEpoch: z.number().int().min(1),
  seq: z.number().int().min(0),
  stream: z.enum(['stdout', 'stderr']),
  data: z.string().max(262_144),
  at: z.iso.datetime({ offset: true }),
  eof: z.boolean().default(false),
  exitCode: z.number().int().min(0).max(255).optional(),
});
export type LogChunk = z.output<typeof LogChunkSchema>;

/** JetStream message id of a log chunk: its redelivery is dropped inside the dedupe window. */
export const logChunkMessageId = (chunk: Pick<LogChunk, 'jobId' | 'attempt' | 'rank' | 'seq'>) =>
  `log:${chunk.jobId}:${chunk.attempt}:${chunk.rank}:${chunk.seq}`;
