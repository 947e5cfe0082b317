import { z } from 'zod';
import { CreateTenant, JobSpecSchema } from '@gantry/contracts';
import { JOB_STATES } from '@gantry/domain';

/**
 * The HTTP contract in zod (issue 3): the routes validate with these and the OpenAPI document is
 * generated from the same objects, so the two cannot drift apart.
 */
export const JobStateSchema = z.enum(JOB_STATES).meta({ id: 'JobState' });

export const CreateTenantBodySchema = CreateTenant.schema.meta({ id: 'CreateTenantRequest' });
export const CreatedTenantSchema = z
  .object({ id: z.string(), apiKey: z.string().describe('shown once; stored only hashed') })
  .meta({ id: 'CreatedTenant' });

export const SubmitJobBodySchema = JobSpecSchema.meta({ id: 'JobSpec' });
export const JobAcceptedSchema = z
  .object({ id: z.string(), state: JobStateSchema })
  .meta({ id: 'JobAccepted' });

export const CancelJobBodySchema = z
  .strictObject({ reason: z.string().max(2_000).optional() })
  .meta({ id: 'CancelJobRequest' });

/** Job ids are UUIDs today; anything outside this shape cannot be a job and is a 404. */
export const JobIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/);
export const JobIdParamsSchema = z.object({ id: JobIdSchema });

export const IdempotencyKeyHeaderSchema = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(256)
    .optional()
    .describe('the same key (per tenant) always answers with the same job'),
});

export const ListJobsQuerySchema = z.strictObject({
  state: JobStateSchema.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(1_024).optional().describe('opaque; the nextCursor of the previous page'),
});
export type ListJobsQuery = z.output<typeof ListJobsQuerySchema>;

const Timestamp = z.iso.datetime({ offset: true }).nullable();

export const JobSchema = z
  .object({
    id: z.string(),
    state: JobStateSchema,
    name: z.string().nullable(),
    nodes: z.number().int(),
    pool: z.string(),
    priority: z.number().int(),
    attempts: z.number().int().describe('attempts started so far'),
    leaseEpoch: z.number().int(),
    assignedNodes: z.array(z.unknown()).describe('the gang of the current lease, by rank'),
    exitCodes: z.array(z.number().int().nullable()).describe('the last attempt, per rank'),
    cancelRequested: z.boolean(),
    reason: z.object({ code: z.string().nullable(), message: z.string().nullable() }).nullable(),
    notBefore: Timestamp,
    submittedAt: z.iso.datetime({ offset: true }),
    admittedAt: Timestamp,
    queuedAt: Timestamp,
    startedAt: Timestamp,
    finishedAt: Timestamp,
    updatedAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: 'Job' });
export type JobView = z.infer<typeof JobSchema>;

export const JobListSchema = z
  .object({ items: z.array(JobSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'JobList' });

export const JobEventSchema = z
  .object({
    id: z.string(),
    type: z.string(),
    schemaVersion: z.number().int(),
    version: z.number().int().describe('1-based, gapless position in the job stream'),
    occurredAt: z.string(),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'JobEvent' });
export const JobEventsSchema = z
  .object({ jobId: z.string(), events: z.array(JobEventSchema) })
  .meta({ id: 'JobEvents' });

export const ProblemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    retryable: z.boolean(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details; extra members carry details' });
