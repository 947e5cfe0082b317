import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z, type ZodType } from 'zod';
import { TenantQuotasSchema } from '@gantry/contracts';
import { NodePoolsSchema } from './nodepools.schemas';
import { UsageSchema } from './usage.schemas';
import { PROBLEM_CONTENT_TYPE } from './problem';
import {
  CancelJobBodySchema,
  CreateFileBodySchema,
  FileCreateReplySchema,
  FileIdParamsSchema,
  StagedFileSchema,
  UploadFileQuerySchema,
  CreatedTenantSchema,
  CreateTenantBodySchema,
  IdempotencyKeyHeaderSchema,
  JobAcceptedSchema,
  JobEventsSchema,
  JobIdParamsSchema,
  JobListSchema,
  JobLogsQuerySchema,
  JobSchema,
  ListJobsQuerySchema,
  LogEventSchema,
  ProblemSchema,
  SubmitJobBodySchema,
  SubmitJobQuerySchema,
  DryRunSchema,
} from './schemas';

const json = (schema: ZodType, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const problem = (description: string) => ({
  description,
  content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
});
const tenantErrors = {
  401: problem('no key, or a wrong or revoked one'),
  503: problem('a service did not answer in time'),
};

/** The OpenAPI 3.1 document of the gateway, from the zod schemas its routes validate with. */
export const buildOpenApiDocument = (): ReturnType<OpenApiGeneratorV31['generateDocument']> => {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: "a tenant's API key, or the admin token on /v1/admin routes",
  });
  const security = [{ [bearer.name]: [] }];

  registry.registerPath({
    method: 'post',
    path: '/v1/admin/tenants',
    summary: 'Create a tenant and issue its first API key (admin)',
    security,
    request: { body: { required: true, ...json(CreateTenantBodySchema, 'the tenant') } },
    responses: {
      201: json(CreatedTenantSchema, 'created; the key is shown this once'),
      400: problem('invalid body'),
      401: problem('not the admin token'),
      409: problem('the tenant exists'),
      503: problem('admission did not answer in time'),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/jobs',
    summary: 'Submit a job',
    security,
    request: {
      headers: IdempotencyKeyHeaderSchema,
      query: SubmitJobQuerySchema,
      body: { required: true, ...json(SubmitJobBodySchema, 'the job spec') },
    },
    responses: {
      200: json(DryRunSchema, 'dryRun=true: the verdict, nothing stored'),
      201: json(JobAcceptedSchema, 'the job, durable'),
      400: problem('invalid spec'),
      413: problem('body too large'),
      422: problem('over the tenant quota'),
      ...tenantErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/jobs',
    summary: "List the caller's jobs, newest first",
    security,
    request: { query: ListJobsQuerySchema },
    responses: {
      200: json(JobListSchema, 'one page'),
      400: problem('invalid query'),
      ...tenantErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/jobs/{id}',
    summary: 'One job',
    security,
    request: { params: JobIdParamsSchema },
    responses: {
      200: json(JobSchema, 'the job'),
      404: problem('no such job for this tenant'),
      ...tenantErrors,
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/jobs/{id}/cancel',
    summary: 'Cancel a job',
    security,
    request: {
      params: JobIdParamsSchema,
      body: { required: false, ...json(CancelJobBodySchema, 'why') },
    },
    responses: {
      200: json(JobAcceptedSchema, 'the job after the request'),
      404: problem('no such job for this tenant'),
      409: problem('the job can no longer be cancelled'),
      ...tenantErrors,
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/jobs/{id}/hold',
    summary: 'Hold a job before it is placed (a manual gate); release puts it back',
    security,
    request: {
      params: JobIdParamsSchema,
      body: { required: false, ...json(CancelJobBodySchema, 'why') },
    },
    responses: {
      200: json(JobAcceptedSchema, 'the job, HELD'),
      404: problem('no such job for this tenant'),
      409: problem('the job can no longer be held (it holds nodes, or it ended)'),
      ...tenantErrors,
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/jobs/{id}/release',
    summary: 'Release a held job to where the hold found it',
    security,
    request: { params: JobIdParamsSchema },
    responses: {
      200: json(JobAcceptedSchema, 'the job after the release'),
      404: problem('no such job for this tenant'),
      409: problem('the job is not held'),
      ...tenantErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/jobs/{id}/events',
    summary: "The job's full history, in order",
    security,
    request: { params: JobIdParamsSchema },
    responses: {
      200: json(JobEventsSchema, 'the events'),
      404: problem('no such job for this tenant'),
      ...tenantErrors,
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/jobs/{id}/logs',
    summary: "The job's output: the last lines, or followed live (SSE)",
    description:
      'Without follow: the last `tail` lines of the latest attempt (or `attempt`) as text, ranks ' +
      'interleaved by time, each line prefixed `[rank N] ` for a multi-node job. With follow=true: ' +
      'Server-Sent Events, every chunk stored so far then each new one, `event: log` with a ' +
      'LogEvent, `event: end` once the job has ended, `: ping` every 15 s. Resumable: the event id ' +
      'is a cursor, sent back as Last-Event-ID (or ?cursor=) it continues exactly after it.',
    security,
    request: { params: JobIdParamsSchema, query: JobLogsQuerySchema },
    responses: {
      200: {
        description: 'the tail, or the event stream',
        content: {
          'text/plain': { schema: z.string() },
          'text/event-stream': { schema: LogEventSchema },
        },
      },
      400: problem('invalid query or cursor'),
      404: problem('no such job for this tenant'),
      ...tenantErrors,
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/v1/files',
    summary: 'Stage an input file (then name its id in a job spec inputs[].ref)',
    description:
      'With a JSON body: creates the file and answers a signed upload URL to PUT the bytes to. ' +
      'With an application/octet-stream body: the gateway uploads the bytes itself (up to 32 MiB) ' +
      'and answers the READY file.',
    security,
    request: {
      query: UploadFileQuerySchema,
      body: {
        required: true,
        description: 'what to stage, or the bytes themselves',
        content: {
          'application/json': { schema: CreateFileBodySchema },
          'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
        },
      },
    },
    responses: {
      201: json(
        FileCreateReplySchema,
        'created: PENDING_UPLOAD with an upload URL (JSON), or READY (octet-stream)',
      ),
      400: problem('invalid body or query, or the bytes do not match the announced size'),
      413: problem('body too large'),
      415: problem('neither JSON nor application/octet-stream'),
      ...tenantErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/files/{id}',
    summary: 'One staged file',
    security,
    request: { params: FileIdParamsSchema },
    responses: {
      200: json(StagedFileSchema, 'the file'),
      404: problem('no such file for this tenant'),
      ...tenantErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/nodepools',
    summary: 'Pools: their nodes, capacity, use and queue depth',
    security,
    responses: {
      200: json(NodePoolsSchema.meta({ id: 'NodePools' }), 'every pool'),
      ...tenantErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/usage',
    summary: "The caller's usage against each quota, with the 90 % line and the headroom left",
    security,
    responses: {
      200: json(UsageSchema, 'usage per dimension'),
      ...tenantErrors,
    },
  });
  registry.registerPath({
    method: 'put',
    path: '/v1/admin/tenants/{id}/quotas',
    summary: "Replace a tenant's quotas (admin); a dimension left out has no limit",
    security,
    request: {
      params: z.object({ id: z.string() }),
      body: {
        required: true,
        ...json(TenantQuotasSchema.meta({ id: 'TenantQuotas' }), 'the quotas'),
      },
    },
    responses: {
      200: json(
        z.object({ id: z.string(), quotas: TenantQuotasSchema }),
        'the quotas now in force',
      ),
      400: problem('invalid quotas'),
      401: problem('not the admin token'),
      404: problem('no such tenant'),
      503: problem('admission did not answer in time'),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/admin/tenants/{id}/keys',
    summary: 'Issue a new API key for a tenant, revoking its current one (admin)',
    security,
    request: { params: z.object({ id: z.string() }) },
    responses: {
      201: json(CreatedTenantSchema, 'the new key; shown this once'),
      401: problem('not the admin token'),
      404: problem('no such tenant'),
      503: problem('admission did not answer in time'),
    },
  });

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Gantry API',
      version: '0.1.0',
      description: 'Multi-tenant batch jobs. Errors are application/problem+json.',
    },
  });
};
