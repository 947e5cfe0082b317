import { z } from 'zod';
import { defineMessage, type MessageOf } from '../registry';
import { EnrolNodeRequestSchema, NodeIdSchema } from '../node';
import { SubjectTokenSchema } from '../ids';

/** `<ns>.cmd.scheduler.enrol-node`: an agent asks to join (its data is the EnrolNodeRequest). */
export const EnrolNode = defineMessage('EnrolNode', 1, EnrolNodeRequestSchema);

const AdminReason = z.string().max(1_000).default('');

/**
 * C9, an admin's say over one node (`<ns>.cmd.scheduler.<verb>`, sent by the gateway under the
 * system tenant with the admin as actor). The scheduler decides each on the node's stream.
 *   cordon-node    no new leases; what runs keeps running
 *   drain-node     cordon, and the node is reported drained once its running work has finished
 *   uncordon-node  new leases again (ends a drain too)
 *   clear-node     lifts a quarantine
 */
export const CordonNode = defineMessage(
  'CordonNode',
  1,
  z.strictObject({ nodeId: NodeIdSchema, reason: AdminReason }),
);
export const DrainNode = defineMessage(
  'DrainNode',
  1,
  z.strictObject({ nodeId: NodeIdSchema, reason: AdminReason }),
);
export const UncordonNode = defineMessage(
  'UncordonNode',
  1,
  z.strictObject({ nodeId: NodeIdSchema }),
);
export const ClearNode = defineMessage('ClearNode', 1, z.strictObject({ nodeId: NodeIdSchema }));

/** What the scheduler answers to each of them: the node's standing after the command. */
export const NodeStandingReplySchema = z.strictObject({
  id: NodeIdSchema,
  cordoned: z.boolean(),
  draining: z.boolean(),
  /** Draining, and its running work has finished. */
  drained: z.boolean(),
  quarantined: z.boolean(),
  /** When a quarantined node takes its next probe lease. */
  probeAfter: z.iso.datetime({ offset: true }).nullable(),
});
export type NodeStandingReply = z.output<typeof NodeStandingReplySchema>;

/**
 * `<ns>.leader.scheduler.explain` (C5): why the scheduler placed a job where it did, or why it
 * still waits. A question, not a change: only the leader holds the explanations, so it is asked
 * on the leader subject. The tenant in the metadata must own the job.
 */
export const ExplainJob = defineMessage(
  'ExplainJob',
  1,
  z.strictObject({ jobId: SubjectTokenSchema }),
);

/**
 * `<ns>.leader.scheduler.estimate` (C7): when would a new job of this shape start in each pool,
 * if submitted now by the asking tenant? Answered by a forward run of the placement core.
 */
export const EstimateStart = defineMessage(
  'EstimateStart',
  1,
  z.strictObject({
    resources: z.strictObject({
      cpu: z.number().positive().max(1_024),
      memoryMiB: z.number().int().positive().max(16_777_216),
      gpu: z.number().int().min(0).max(64).default(0),
    }),
    nodes: z.number().int().min(1).max(1_024).default(1),
  }),
);

export const StartEstimatesReplySchema = z.strictObject({
  pools: z.array(
    z.strictObject({
      pool: SubjectTokenSchema,
      /** Null: it cannot start there, or not within what the estimate looks at. */
      estimatedStartAt: z.iso.datetime({ offset: true }).nullable(),
    }),
  ),
});
export type StartEstimatesReply = z.output<typeof StartEstimatesReplySchema>;

export const nodeCommandDefinitions = [
  EnrolNode,
  CordonNode,
  DrainNode,
  UncordonNode,
  ClearNode,
  ExplainJob,
  EstimateStart,
] as const;
export type NodeCommand = MessageOf<(typeof nodeCommandDefinitions)[number]>;
