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

export const nodeEventDefinitions = [NodeEnrolled, NodeLost] as const;

export type NodeEvent = MessageOf<(typeof nodeEventDefinitions)[number]>;
export type NodeEventType = NodeEvent['type'];
