import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z, type ZodType } from 'zod';
import {
  JobExplanationSchema,
  NodeStandingReplySchema,
  PoolPricesSchema,
  TenantBudgetSchema,
  TenantQuotasSchema,
} from '@gantry/contracts';
import { NodeReasonBodySchema } from './admin-nodes.controller';
import { AccuracyQuerySchema, AlertsQuerySchema } from './admin.controller';
import { NodePoolsQuerySchema, NodePoolsSchema } from './nodepools.schemas';
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
  JobOutputDownloadSchema,
  JobSchema,
  JobStepSchema,
  RetryStepsBodySchema,
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
      200: json(
        JobSchema.extend({
          estimatedStartAt: z.iso
            .datetime({ offset: true })
            .nullable()
            .describe(
              'QUEUED only: when the scheduler expects it to start, if running work ends as expected (C7); null otherwise or when not within reach',
            ),
          steps: z
            .array(JobStepSchema)
            .describe('a job with steps: each step, in the spec order (D5); empty for other jobs'),
        }),
        'the job',
      ),
      404: problem('no such job for this tenant'),
      ...tenantErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/jobs/{id}/outputs/{name}',
    summary: 'Where to download one committed output of a job (a signed URL)',
    security,
    request: { params: JobIdParamsSchema.extend({ name: z.string() }) },
    responses: {
      200: json(JobOutputDownloadSchema, 'the output, with a signed GET of its stored bytes'),
      404: problem('no such job for this tenant, or no committed output of that name'),
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
    method: 'post',
    path: '/v1/jobs/{id}/retry',
    summary:
      "Run a job's failed steps again (or the named ones, with their dependents); succeeded steps keep their outputs",
    security,
    request: {
      params: JobIdParamsSchema,
      body: { content: { 'application/json': { schema: RetryStepsBodySchema } }, required: false },
    },
    responses: {
      200: json(JobAcceptedSchema, 'the job, BLOCKED again while its steps run'),
      400: problem('a malformed request, or a step the job does not have'),
      404: problem('no such job for this tenant'),
      409: problem('the job has no steps, has not ended, or has no failed step to retry'),
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
    path: '/v1/jobs/{id}/explain',
    summary: 'Why the job was placed where it was, or why it still waits',
    description:
      'For a placed job: every candidate node with its score by term (fit, load, health, ' +
      'locality, affinity), the weights, and why the winner won; the totals can be recomputed ' +
      'from the terms. For a waiting job: the filter that kept each node of its pool out, the ' +
      'nodes that lost, its place in its queue and what it waits for. A job the scheduler keeps ' +
      'no reason for (ended, or placed long ago) answers retained=false and why.',
    security,
    request: { params: JobIdParamsSchema },
    responses: {
      200: json(
        z.intersection(JobExplanationSchema, JobSchema.pick({ state: true })),
        'the explanation, with the job state',
      ),
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
    description:
      'With cores and memoryMiB (and optionally gpus, nodes) in the query, each pool also shows ' +
      'estimatedStartAt: when a new job of that shape, submitted now, would start there.',
    security,
    request: { query: NodePoolsQuerySchema },
    responses: {
      200: json(NodePoolsSchema.meta({ id: 'NodePools' }), 'every pool'),
      400: problem('a job shape without cores or memoryMiB'),
      ...tenantErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/usage',
    summary:
      "The caller's usage against each quota, with the 90 % line and the headroom left, and its " +
      'spend this month against its budget with a burndown by day',
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
  const adminErrors = {
    401: problem('not the admin token'),
    404: problem('no such tenant'),
    503: problem('admission did not answer in time'),
  };
  const tenantParams = z.object({ id: z.string() });
  registry.registerPath({
    method: 'put',
    path: '/v1/admin/tenants/{id}/budget',
    summary:
      "Set a tenant's monthly budget (admin): projected costs past it are refused, and reaching " +
      'it pauses the tenant; raising it past the spend resumes a budget-paused tenant',
    security,
    request: {
      params: tenantParams,
      body: {
        required: true,
        ...json(TenantBudgetSchema.meta({ id: 'TenantBudget' }), 'the budget'),
      },
    },
    responses: {
      200: json(z.object({ id: z.string(), budget: TenantBudgetSchema }), 'the budget in force'),
      400: problem('invalid budget'),
      ...adminErrors,
    },
  });
  registry.registerPath({
    method: 'delete',
    path: '/v1/admin/tenants/{id}/budget',
    summary: "Remove a tenant's budget (admin)",
    security,
    request: { params: tenantParams },
    responses: {
      200: json(z.object({ id: z.string(), budget: z.null() }), 'no budget now'),
      ...adminErrors,
    },
  });
  for (const [verb, summary] of [
    ['pause', 'Pause a tenant (admin): new jobs refused, waiting jobs held'],
    ['resume', 'Resume a paused tenant (admin): held jobs released, submissions accepted'],
  ] as const)
    registry.registerPath({
      method: 'post',
      path: `/v1/admin/tenants/{id}/${verb}`,
      summary,
      security,
      request: { params: tenantParams },
      responses: {
        200: json(z.object({ id: z.string(), paused: z.boolean() }), 'done'),
        ...adminErrors,
      },
    });
  registry.registerPath({
    method: 'get',
    path: '/v1/admin/estimates/accuracy',
    summary:
      "How good start estimates were (admin): each started job's first estimate vs its start",
    security,
    request: { query: AccuracyQuerySchema },
    responses: {
      200: json(
        z.object({
          since: z.string(),
          samples: z.number(),
          absoluteErrorSeconds: z
            .object({ p50: z.number(), p90: z.number(), max: z.number() })
            .nullable(),
          late: z.number(),
          early: z.number(),
          withinOneMinute: z.number(),
        }),
        'the accuracy of the first estimates',
      ),
      400: problem('invalid query'),
      401: problem('not the admin token'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/admin/alerts',
    summary: 'Alerts (admin): quota drift, budget warnings and exhausted budgets, newest first',
    security,
    request: { query: AlertsQuerySchema },
    responses: {
      200: json(
        z.object({
          alerts: z.array(
            z.object({
              kind: z.string(),
              subject: z.string(),
              tenant: z.string().nullable(),
              severity: z.enum(['info', 'warning', 'critical']),
              message: z.string(),
              details: z.record(z.string(), z.unknown()),
              open: z.boolean(),
              raisedAt: z.string(),
              resolvedAt: z.string().nullable(),
              resolution: z.string().nullable(),
            }),
          ),
        }),
        'the alerts',
      ),
      400: problem('invalid query'),
      401: problem('not the admin token'),
    },
  });
  registry.registerPath({
    method: 'put',
    path: '/v1/admin/pools/{pool}/prices',
    summary: "Set a pool's prices per resource-hour (admin); jobs admitted after are priced so",
    security,
    request: {
      params: z.object({ pool: z.string() }),
      body: { required: true, ...json(PoolPricesSchema.meta({ id: 'PoolPrices' }), 'the prices') },
    },
    responses: {
      200: json(z.object({ pool: z.string(), prices: PoolPricesSchema }), 'the prices in force'),
      400: problem('invalid prices'),
      401: problem('not the admin token'),
      404: problem('not a pool name'),
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

  for (const [verb, summary, body] of [
    ['cordon', 'Cordon a node: no new leases, running work goes on (admin)', true],
    ['drain', 'Drain a node: cordon it and let its running work finish (admin)', true],
    ['uncordon', 'Uncordon a node: new leases again; ends a drain (admin)', false],
    ['clear', 'Lift a quarantine (admin)', false],
  ] as const) {
    registry.registerPath({
      method: 'post',
      path: `/v1/admin/nodes/{id}/${verb}`,
      summary,
      security,
      request: {
        params: z.object({ id: z.string() }),
        ...(body ? { body: { required: false, ...json(NodeReasonBodySchema, 'why') } } : {}),
      },
      responses: {
        200: json(NodeStandingReplySchema, "the node's standing after the call"),
        400: problem('invalid body'),
        401: problem('not the admin token'),
        404: problem('no such node has enrolled'),
        503: problem('the scheduler did not answer in time'),
      },
    });
  }

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Gantry API',
      version: '0.1.0',
      description: 'Multi-tenant batch jobs. Errors are application/problem+json.',
    },
  });
};
