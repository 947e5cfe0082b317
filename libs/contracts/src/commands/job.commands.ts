import { z } from 'zod';
import { JobSpecSchema } from '../job-spec';
import { defineMessage } from '../registry';

/** Commands: intents, named in the imperative. The answer may be a refusal. */
export const SubmitJob = defineMessage(
  'SubmitJob',
  1,
  z.strictObject({ spec: JobSpecSchema, idempotencyKey: z.string().min(1).max(256).nullable() }),
);
export const CancelJob = defineMessage(
  'CancelJob',
  1,
  z.strictObject({ jobId: z.string().min(1).max(128), reason: z.string().max(2_000).default('') }),
);
export const jobCommandDefinitions = [SubmitJob, CancelJob] as const;
