import { z } from 'zod';
import { JobSpecSchema } from '../job-spec';
import { defineMessage } from '../registry';
import type { DomainEvent } from '../envelope';

/**
 * Job events: facts, named in the past tense. The controller is their only writer
 * (ARCHITECTURE.md). The lifecycle issue extends this set; these are the first ones the
 * foundation needs to prove the store, the bus and a projection end to end.
 */
const JobId = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/);

/**
 * JobSubmitted v1 was the pre-release shape: memory in decimal megabytes (`memoryMb`) and the
 * gang size named `nodeCount`. v2 uses MiB and `nodes`, as the public spec does.
 */
const JobSubmittedV1 = z.object({
  jobId: JobId,
  spec: z
    .object({ nodeCount: z.number(), resources: z.object({ memoryMb: z.number() }).passthrough() })
    .passthrough(),
  idempotencyKey: z.string().nullable(),
});

export const JobSubmittedData = z.strictObject({
  jobId: JobId,
  spec: JobSpecSchema,
  idempotencyKey: z.string().max(256).nullable(),
});

const MB_PER_MIB = 1.048576;

export const JobSubmitted = defineMessage('JobSubmitted', 2, JobSubmittedData, {
  1: (data) => {
    const v1 = JobSubmittedV1.parse(data);
    const { nodeCount, resources, ...restOfSpec } = v1.spec;
    const { memoryMb, ...restOfResources } = resources;
    return {
      ...v1,
      spec: {
        ...restOfSpec,
        nodes: nodeCount,
        resources: { ...restOfResources, memoryMiB: Math.ceil(memoryMb / MB_PER_MIB) },
      },
    };
  },
});

export const JobAdmittedData = z.strictObject({
  jobId: JobId,
  admittedAt: z.iso.datetime({ offset: true }),
});
export const JobAdmitted = defineMessage('JobAdmitted', 1, JobAdmittedData);

export const JobRejectedData = z.strictObject({
  jobId: JobId,
  code: z.string().min(1),
  reason: z.string().min(1).max(2_000),
  details: z.record(z.string(), z.unknown()).default({}),
});
export const JobRejected = defineMessage('JobRejected', 1, JobRejectedData);

export const JobCancelledData = z.strictObject({
  jobId: JobId,
  reason: z.string().max(2_000),
  cancelledBy: z.string().min(1).max(200),
});
export const JobCancelled = defineMessage('JobCancelled', 1, JobCancelledData);

export const jobEventDefinitions = [JobSubmitted, JobAdmitted, JobRejected, JobCancelled] as const;

export type JobEvent =
  | DomainEvent<'JobSubmitted', z.output<typeof JobSubmittedData>>
  | DomainEvent<'JobAdmitted', z.output<typeof JobAdmittedData>>
  | DomainEvent<'JobRejected', z.output<typeof JobRejectedData>>
  | DomainEvent<'JobCancelled', z.output<typeof JobCancelledData>>;
export type JobEventType = JobEvent['type'];
