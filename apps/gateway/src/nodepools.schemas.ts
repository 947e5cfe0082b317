import { z } from 'zod';

/** `GET /v1/nodepools`: what a tenant sees of the shared fleet (FEATURES.md C1, C7). */
export const ResourceAmountsSchema = z.object({
  cpu: z.number(),
  memoryMiB: z.number(),
  gpu: z.number(),
});
export type ResourceAmounts = z.infer<typeof ResourceAmountsSchema>;

export const PoolNodeSchema = z.object({
  id: z.string(),
  hostname: z.string(),
  status: z.enum(['ready', 'lost']),
  labels: z.record(z.string(), z.string()),
  capacity: ResourceAmountsSchema,
  used: ResourceAmountsSchema,
  runningLeases: z.number().int(),
  lastSeenAt: z.string().nullable(),
  /** C9: no new leases (an admin's cordon or drain). */
  cordoned: z.boolean(),
  /** Cordoned and leaving: running work is let finish. */
  draining: z.boolean(),
  /** Draining, and nothing runs there any more. */
  drained: z.boolean(),
  /** Its attempts kept failing: no new leases but a probe, until it passes or an admin clears it. */
  quarantined: z.boolean(),
});

export const NodePoolSchema = z.object({
  name: z.string(),
  nodes: z.array(PoolNodeSchema),
  nodesReady: z.number().int(),
  nodesLost: z.number().int(),
  /** Summed over ready nodes only: a lost node offers nothing. */
  capacity: ResourceAmountsSchema,
  used: ResourceAmountsSchema,
  free: ResourceAmountsSchema,
  /** Jobs of every tenant waiting for this pool. */
  queueDepth: z.number().int(),
  /** The caller's own jobs among them. */
  queuedForYou: z.number().int(),
  running: z.number().int(),
  /** C7: with a job shape in the query, when a new job of that shape would start here (null: not within the estimate's reach). */
  estimatedStartAt: z.string().nullable().optional(),
});
export type NodePoolView = z.infer<typeof NodePoolSchema>;

export const NodePoolsSchema = z.object({ pools: z.array(NodePoolSchema) });

/** `GET /v1/nodepools?cores=&memoryMiB=&gpus=&nodes=`: the shape of a job to estimate a start for (C7). */
export const NodePoolsQuerySchema = z
  .strictObject({
    cores: z.coerce.number().positive().max(1_024).optional(),
    memoryMiB: z.coerce.number().int().positive().max(16_777_216).optional(),
    gpus: z.coerce.number().int().min(0).max(64).optional(),
    nodes: z.coerce.number().int().min(1).max(1_024).optional(),
  })
  .refine(
    (q) =>
      q.cores === undefined
        ? q.memoryMiB === undefined && q.gpus === undefined && q.nodes === undefined
        : q.memoryMiB !== undefined,
    'a job shape needs cores and memoryMiB (gpus and nodes are optional)',
  );
