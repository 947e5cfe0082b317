import { z } from 'zod';

/** One quota dimension as a tenant sees it (FEATURES.md B1, B2, B4). */
export const DimensionUsageSchema = z.object({
  /** null: no quota on this dimension. */
  limit: z.number().nullable(),
  used: z.number(),
  /** 90 % of the limit: a submission that would reach it is refused. */
  threshold: z.number().nullable(),
  /** threshold - used: a job must ask for less than this to be admitted. */
  headroom: z.number().nullable(),
});
export type DimensionUsage = z.infer<typeof DimensionUsageSchema>;

/** One day of the month's burndown (B3): what ended that day cost, and what was left after it. */
export const BurndownDaySchema = z.object({
  day: z.string().describe('YYYY-MM-DD, UTC'),
  spent: z.number(),
  cumulative: z.number(),
  /** budget - cumulative; null without a budget. */
  remaining: z.number().nullable(),
});

/** Spend against the monthly budget (B3), in the price book's currency units. */
export const SpendSchema = z.object({
  month: z.string().describe('YYYY-MM, UTC'),
  budget: z
    .object({ monthly: z.number(), onExhausted: z.enum(['finish', 'stop']) })
    .nullable()
    .describe('null: no budget'),
  /** What the jobs that ended this month cost. */
  spent: z.number(),
  /** What the jobs running now have accrued so far in their current attempt. */
  accruing: z.number(),
  /** What the jobs admitted and not yet ended are projected to cost: the guard keeps room for it. */
  committed: z.number(),
  /** budget - spent - accruing; null without a budget. */
  remaining: z.number().nullable(),
  paused: z
    .object({
      reason: z.enum(['budget', 'admin']),
      spend: z.number(),
      budget: z.number().nullable(),
      pausedAt: z.string(),
    })
    .nullable(),
  burndown: z.array(BurndownDaySchema),
});
export type SpendView = z.infer<typeof SpendSchema>;

export const UsageSchema = z
  .object({
    tenant: z.string(),
    guardRatio: z.number(),
    spend: SpendSchema,
    /** Per-pool GPU quotas (B1), by pool: each pool the tenant has a quota in or GPUs held in. */
    gpusByPool: z.record(z.string(), DimensionUsageSchema),
    dimensions: z.object({
      cores: DimensionUsageSchema,
      memoryMiB: DimensionUsageSchema,
      gpus: DimensionUsageSchema,
      concurrentJobs: DimensionUsageSchema,
      storageBytes: DimensionUsageSchema.describe('bytes of staged files held now'),
      ingressBytes: DimensionUsageSchema.describe('bytes uploaded this month (UTC)'),
      egressBytes: DimensionUsageSchema.describe('bytes of outputs downloaded this month (UTC)'),
    }),
  })
  .meta({ id: 'Usage' });
export type UsageView = z.infer<typeof UsageSchema>;
