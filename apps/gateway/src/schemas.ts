import { z } from 'zod';
import { CreateFile, CreateTenant, FileNameSchema, JobSpecSchema } from '@gantry/contracts';
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

export const SubmitJobQuerySchema = z.strictObject({
  dryRun: z
    .enum(['true', 'false'])
    .optional()
    .transform((value) => value === 'true')
    .describe('true: answer the verdict a submission would get now, and store nothing (A7)'),
});

/** `POST /v1/jobs?dryRun=true`: the admission verdict, and what the job would hold. */
export const DryRunSchema = z
  .object({
    dryRun: z.literal(true),
    admit: z.boolean(),
    reservation: z.object({ cores: z.number(), memoryMiB: z.number(), gpus: z.number() }),
    cost: z
      .object({
        pool: z.string(),
        ratePerHour: z.number().describe("an hour of all the job's nodes at the pool's prices"),
        expectedRuntimeSeconds: z
          .number()
          .describe('expectedRuntimeSeconds, else maxRuntimeSeconds, else an assumed hour'),
        projectedCost: z.number(),
      })
      .describe('the projected cost (B3) the budget guard counts'),
    estimatedStartAt: z
      .string()
      .nullable()
      .describe(
        "when it would start in its pool if submitted now (C7); null: not within the estimate's horizon, or no scheduler answered",
      ),
    refusal: z
      .object({ code: z.string(), reason: z.string(), details: z.record(z.string(), z.unknown()) })
      .nullable(),
  })
  .meta({ id: 'DryRun' });
export type DryRunView = z.infer<typeof DryRunSchema>;

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

/** A stored file of a job: `ref` is its staged file, `sha256` what the store holds (D4). */
export const JobOutputSchema = z
  .object({
    name: z.string(),
    ref: z.string(),
    size: z.number().int(),
    sha256: z.string(),
    attempt: z.number().int().describe('the attempt that made it'),
  })
  .meta({ id: 'JobOutput' });
export type JobOutputView = z.infer<typeof JobOutputSchema>;

export const JobCheckpointSchema = JobOutputSchema.extend({
  at: z.iso.datetime({ offset: true }),
}).meta({ id: 'JobCheckpoint' });

/** Where to fetch one output: a signed URL of the artifact store, good until `expiresAt`. */
export const JobOutputDownloadSchema = JobOutputSchema.extend({
  url: z.string(),
  expiresAt: z.iso.datetime({ offset: true }),
}).meta({ id: 'JobOutputDownload' });
export type JobOutputDownloadView = z.infer<typeof JobOutputDownloadSchema>;

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
    outputs: z
      .array(JobOutputSchema)
      .describe('committed with the success of the attempt that made them (D4); empty until then'),
    progress: z
      .number()
      .nullable()
      .describe("the running attempt's own estimate, 0 to 1 (D7); null until it reports one"),
    checkpoint: JobCheckpointSchema.nullable().describe(
      'the last checkpoint an attempt saved; a retry resumes from it (D7)',
    ),
    run: z
      .number()
      .int()
      .describe('a job with steps: the run of its steps, 1 until a retry (D5); 0 for other jobs'),
    parent: z
      .object({ jobId: z.string(), step: z.string(), run: z.number().int() })
      .nullable()
      .describe('the job (and its step and run) this job runs a step of; null for a job of yours'),
  })
  .meta({ id: 'Job' });
export type JobView = z.infer<typeof JobSchema>;

/** One step of a job with steps (D5), as its job's page shows it. */
export const JobStepSchema = z
  .object({
    name: z.string(),
    dependsOn: z.array(z.string()),
    state: z
      .enum(['WAITING', 'SUBMITTED', 'SUCCEEDED', 'FAILED', 'SKIPPED'])
      .describe('SUBMITTED: its job exists and runs (see that job for its own state)'),
    run: z.number().int().describe('the run that last changed it'),
    jobId: z.string().nullable().describe('the job that runs (or ran) it in that run'),
    reason: z.string().nullable().describe('why it failed, or why it was not run'),
    outputs: z
      .array(
        z.object({ name: z.string(), ref: z.string(), size: z.number().int(), sha256: z.string() }),
      )
      .describe('committed by its job; what its dependents get as inputs, and a retry reuses'),
  })
  .meta({ id: 'JobStep' });
export type JobStepView = z.infer<typeof JobStepSchema>;

export const RetryStepsBodySchema = z
  .strictObject({
    steps: z
      .array(z.string().min(1).max(64))
      .min(1)
      .max(1_000)
      .optional()
      .describe('the steps to run again, with their dependents; by default the failed and skipped'),
  })
  .meta({ id: 'RetryStepsRequest' });

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

export const JobLogsQuerySchema = z.strictObject({
  tail: z.coerce
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(1_000)
    .describe('without follow: how many of the last lines to answer'),
  follow: z
    .enum(['true', 'false'])
    .optional()
    .describe('true: stream as Server-Sent Events until the job has ended'),
  attempt: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .describe('only this attempt (default: tail the latest, follow every attempt)'),
  rank: z.coerce.number().int().min(0).max(1_023).optional().describe('only this rank'),
  cursor: z
    .string()
    .max(65_536)
    .optional()
    .describe('follow from after this event id; the Last-Event-ID header wins'),
});

export const LogEventSchema = z
  .object({
    attempt: z.number().int(),
    rank: z.number().int(),
    stream: z.enum(['stdout', 'stderr']),
    seq: z.number().int().describe('dense per (attempt, rank) from 0'),
    data: z.string(),
    at: z.string().describe('when the agent read it, ISO-8601 UTC'),
    eof: z.literal(true).optional().describe("the rank's last chunk"),
    exitCode: z.number().int().nullable().optional(),
  })
  .meta({
    id: 'LogEvent',
    description:
      'The data of an SSE `event: log`. Its `id:` is a cursor (last seq per attempt and rank); ' +
      'send it back as Last-Event-ID to resume. The stream ends with `event: end`.',
  });

// Staged files (issue 3, staging): POST /v1/files and GET /v1/files/{id}.
export const CreateFileBodySchema = CreateFile.schema.meta({
  id: 'CreateFileRequest',
  description: 'the file to stage; size and sha256, when given, are checked against the upload',
});
export const UploadFileQuerySchema = z.strictObject({
  name: FileNameSchema.default('upload').describe('the file name (octet-stream uploads)'),
});
export const FileIdParamsSchema = z.object({
  id: z.string().describe('file-<32 hex>; what a job spec names in inputs[].ref'),
});
export const FileCreatedSchema = z
  .object({
    id: z.string(),
    state: z.literal('PENDING_UPLOAD'),
    uploadUrl: z.string().describe('PUT the bytes here before expiresAt; no API key needed'),
    expiresAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: 'FileCreated' });
export type FileCreatedView = z.infer<typeof FileCreatedSchema>;
export const FileUploadedSchema = z
  .object({
    id: z.string(),
    state: z.literal('READY'),
    size: z.number().int(),
    sha256: z.string(),
  })
  .meta({ id: 'FileUploaded' });
export type FileUploadedView = z.infer<typeof FileUploadedSchema>;
export const FileCreateReplySchema = z
  .union([FileCreatedSchema, FileUploadedSchema])
  .meta({ id: 'FileCreateReply' });
export const StagedFileSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    state: z.enum(['PENDING_UPLOAD', 'READY']),
    size: z.number().int().nullable().describe('announced until READY, then measured'),
    sha256: z.string().nullable().describe('announced until READY, then measured'),
    createdAt: z.iso.datetime({ offset: true }),
    uploadedAt: z.iso.datetime({ offset: true }).nullable(),
  })
  .meta({ id: 'StagedFile' });
