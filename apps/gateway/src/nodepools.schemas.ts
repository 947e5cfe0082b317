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
});
export type NodePoolView = z.infer<typeof NodePoolSchema>;

export const NodePoolsSchema = z.object({ pools: z.array(NodePoolSchema) });
