import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { type ZodType } from 'zod';
import { PROBLEM_CONTENT_TYPE } from './problem';
import {
  CancelJobBodySchema,
  CreatedTenantSchema,
  CreateTenantBodySchema,
  IdempotencyKeyHeaderSchema,
  JobAcceptedSchema,
  JobEventsSchema,
  JobIdParamsSchema,
  JobListSchema,
  JobSchema,
  ListJobsQuerySchema,
  ProblemSchema,
  SubmitJobBodySchema,
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
      body: { required: true, ...json(SubmitJobBodySchema, 'the job spec') },
    },
    responses: {
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

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Gantry API',
      version: '0.1.0',
      description: 'Multi-tenant batch jobs. Errors are application/problem+json.',
    },
  });
};
