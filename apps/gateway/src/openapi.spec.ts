import { buildOpenApiDocument } from './openapi';

describe('the OpenAPI document', () => {
  const doc = buildOpenApiDocument();

  it('is OpenAPI 3.1 with every route of the contract', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths ?? {}).sort()).toEqual([
      '/v1/admin/alerts',
      '/v1/admin/estimates/accuracy',
      '/v1/admin/nodes/{id}/clear',
      '/v1/admin/nodes/{id}/cordon',
      '/v1/admin/nodes/{id}/drain',
      '/v1/admin/nodes/{id}/uncordon',
      '/v1/admin/pools/{pool}/prices',
      '/v1/admin/tenants',
      '/v1/admin/tenants/{id}/budget',
      '/v1/admin/tenants/{id}/keys',
      '/v1/admin/tenants/{id}/pause',
      '/v1/admin/tenants/{id}/quotas',
      '/v1/admin/tenants/{id}/resume',
      '/v1/files',
      '/v1/files/{id}',
      '/v1/jobs',
      '/v1/jobs/{id}',
      '/v1/jobs/{id}/cancel',
      '/v1/jobs/{id}/events',
      '/v1/jobs/{id}/explain',
      '/v1/jobs/{id}/hold',
      '/v1/jobs/{id}/logs',
      '/v1/jobs/{id}/outputs/{name}',
      '/v1/jobs/{id}/release',
      '/v1/jobs/{id}/retry',
      '/v1/nodepools',
      '/v1/usage',
    ]);
  });

  it('describes the job spec from its zod schema, strict as it is', () => {
    const spec = doc.components?.schemas?.['JobSpec'] as {
      required?: string[];
      additionalProperties?: unknown;
      properties?: Record<string, unknown>;
    };
    // `command` may be left out of a job whose steps all have one (D5).
    expect(spec.required).toEqual(expect.arrayContaining(['resources']));
    expect(spec.additionalProperties).toBe(false);
    expect(Object.keys(spec.properties ?? {})).toEqual(
      expect.arrayContaining(['command', 'nodes', 'pool', 'steps']),
    );
  });

  it('lists the D1 states', () => {
    const state = doc.components?.schemas?.['JobState'] as { enum?: string[] };
    expect(state.enum).toEqual(expect.arrayContaining(['PENDING', 'RUNNING', 'DEAD_LETTER']));
  });
});
