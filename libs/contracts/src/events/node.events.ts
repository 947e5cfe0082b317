import { z } from 'zod';
import { defineMessage, type MessageOf } from '../registry';
import { NodeCapacitySchema, NodeIdSchema } from '../node';
import { SubjectTokenSchema } from '../ids';

/**
 * Node facts (C1, D2). The scheduler is their only writer, on one stream per node,
 * `node-<nodeId>`, under the system tenant (a node serves every tenant). Heartbeats are not facts:
 * they are soft state in the scheduler; only what changes a node's standing is recorded here.
 */
const Timestamp = z.iso.datetime({ offset: true });

/** The node enrolled (again: an agent that restarts enrols anew, with what it now advertises). */
export const NodeEnrolledData = z.strictObject({
  nodeId: NodeIdSchema,
  pools: z.array(SubjectTokenSchema).min(1).max(32),
  labels: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
  capacity: NodeCapacitySchema,
  hostname: z.string().min(1).max(255),
  enrolledAt: Timestamp,
});
export const NodeEnrolled = defineMessage('NodeEnrolled', 1, NodeEnrolledData);

/** No heartbeat for the loss timeout: the node gets no new leases until it heartbeats again. */
export const NodeLostData = z.strictObject({
  nodeId: NodeIdSchema,
  lastSeenAt: Timestamp,
  lostAt: Timestamp,
});
export const NodeLost = defineMessage('NodeLost', 1, NodeLostData);

/**
 * C9, a node's standing. Who changed it is the event's `metadata.actor` (`admin` for the admin
 * routes, `scheduler` for a quarantine or a probe). The state machine is in @gantry/domain
 * (node.aggregate.ts).
 */
const Reason = z.string().max(1_000);

/** No new leases on the node; what runs there keeps running. */
export const NodeCordoned = defineMessage(
  'NodeCordoned',
  1,
  z.strictObject({ nodeId: NodeIdSchema, reason: Reason, cordonedAt: Timestamp }),
);

/** Cordoned, and leaving: its running work is let finish (never killed), then it is drained. */
export const NodeDrainStarted = defineMessage(
  'NodeDrainStarted',
  1,
  z.strictObject({ nodeId: NodeIdSchema, reason: Reason, drainStartedAt: Timestamp }),
);

/** A draining node's last running lease ended: it may be taken away. */
export const NodeDrained = defineMessage(
  'NodeDrained',
  1,
  z.strictObject({ nodeId: NodeIdSchema, drainedAt: Timestamp }),
);

/** New leases again; ends a cordon and a drain. */
export const NodeUncordoned = defineMessage(
  'NodeUncordoned',
  1,
  z.strictObject({ nodeId: NodeIdSchema, uncordonedAt: Timestamp }),
);

/** Attempts on the node kept failing: no new leases, except one probe at a time after `probeAfter`. */
export const NodeQuarantined = defineMessage(
  'NodeQuarantined',
  1,
  z.strictObject({
    nodeId: NodeIdSchema,
    consecutiveFailures: z.number().int().min(1),
    /** The jobs whose attempts failed there, oldest first. */
    failedJobs: z.array(SubjectTokenSchema).max(64),
    quarantinedAt: Timestamp,
    /** From then on the node takes one lease at a time as its probe. */
    probeAfter: Timestamp,
  }),
);

/** A probe attempt on a quarantined node failed too: the next probe waits again. */
export const NodeProbeFailed = defineMessage(
  'NodeProbeFailed',
  1,
  z.strictObject({
    nodeId: NodeIdSchema,
    jobId: SubjectTokenSchema,
    failedAt: Timestamp,
    probeAfter: Timestamp,
  }),
);

/** The quarantine is lifted: by an admin, or by a probe attempt that succeeded. */
export const NodeQuarantineCleared = defineMessage(
  'NodeQuarantineCleared',
  1,
  z.strictObject({
    nodeId: NodeIdSchema,
    by: z.enum(['admin', 'probe']),
    /** The job whose attempt passed, for a probe. */
    probeJobId: SubjectTokenSchema.nullable(),
    clearedAt: Timestamp,
  }),
);

export const nodeEventDefinitions = [
  NodeEnrolled,
  NodeLost,
  NodeCordoned,
  NodeDrainStarted,
  NodeDrained,
  NodeUncordoned,
  NodeQuarantined,
  NodeProbeFailed,
  NodeQuarantineCleared,
] as const;

export type NodeEvent = MessageOf<(typeof nodeEventDefinitions)[number]>;
export type NodeEventType = NodeEvent['type'];
