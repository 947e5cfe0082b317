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

export const UsageSchema = z
  .object({
    tenant: z.string(),
    guardRatio: z.number(),
    dimensions: z.object({
      cores: DimensionUsageSchema,
      memoryMiB: DimensionUsageSchema,
      gpus: DimensionUsageSchema,
      concurrentJobs: DimensionUsageSchema,
    }),
  })
  .meta({ id: 'Usage' });
export type UsageView = z.infer<typeof UsageSchema>;
