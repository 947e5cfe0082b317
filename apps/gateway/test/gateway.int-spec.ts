import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Pool } from 'pg';
import { createSubjects, eventRegistry } from '@gantry/contracts';
import { PostgresEventStore, runMigrations } from '@gantry/event-store';
import { connectNats, deleteStreams, ensureStreams, messagingMigrations } from '@gantry/messaging';
import {
  createTestDatabase,
  eventually,
  resolveServerUrls,
  uniqueName,
  type TestDatabase,
} from '@gantry/testing';
import { createGatewayApp } from '../src/app';
import { gatewayMigrations } from '../src/migrations';
import { type ServiceProcess } from '@gantry/platform';
import { startService } from './processes';

/**
 * The gateway against the real thing: controller, admission, the event publisher and the
 * projector as processes on a real Postgres and nats-server, the gateway in-process, driven
 * through Fastify's inject (issue 3's contract).
 */
const ADMIN_TOKEN = 'admin-token-for-tests';
const subjects = createSubjects(uniqueName('t'));
let db: TestDatabase;
let pool: Pool;
let nc: NatsConnection;
let jsm: JetStreamManager;
let app: NestFastifyApplication;
let baseUrl: string;
const services: ServiceProcess[] = [];
let acmeKey: string;
let globexKey: string;

interface Reply {
  readonly statusCode: number;
  readonly headers: Record<string, unknown>;
  readonly body: string;
  json<T = Record<string, unknown>>(): T;
}

const call = async (
  method: 'GET' | 'POST' | 'PUT',
  url: string,
  options: {
    key?: string | null;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Reply> => {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers['authorization'] = `Bearer ${options.key}`;
  let payload: string | undefined;
  if (options.rawBody !== undefined || options.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    payload = options.rawBody ?? JSON.stringify(options.body);
  }
  const res = await fetch(`${baseUrl}${url}`, {
    method,
    headers,
    ...(payload === undefined ? {} : { body: payload }),
  });
  const body = await res.text();
  return {
    statusCode: res.status,
    headers: Object.fromEntries(res.headers.entries()),
    body,
    json: <T>() => JSON.parse(body) as T,
  };
};

const aSpec = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  command: ['sh', '-c', 'echo hello'],
  resources: { cpu: 1, memoryMiB: 256 },
  ...overrides,
});

const expectProblem = (res: Reply, status: number, code?: string): void => {
  expect({ status: res.statusCode, type: res.headers['content-type'] }).toEqual({
    status,
    type: expect.stringContaining('application/problem+json'),
  });
  const problem = res.json();
  expect(problem).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
  if (code !== undefined) expect(problem['code']).toBe(code);
};

const jobEventCount = async (): Promise<number> =>
  Number(
    (
      await pool.query<{ n: string }>(
        "SELECT count(*) AS n FROM events WHERE stream_id LIKE 'job-%'",
      )
    ).rows[0]!.n,
  );

const createTenant = async (
  id: string,
  quotas: Record<string, number> = { cores: 64, concurrentJobs: 100 },
): Promise<string> => {
  const res = await call('POST', '/v1/admin/tenants', {
    key: ADMIN_TOKEN,
    body: { id, name: id, quotas },
  });
  expect(res.statusCode).toBe(201);
  const body = res.json<{ id: string; apiKey: string }>();
  expect(Object.keys(body).sort()).toEqual(['apiKey', 'id']);
  expect(body.id).toBe(id);
  // The 201 waits until the key authenticates: the admin can use it at once.
  expect((await call('GET', '/v1/jobs', { key: body.apiKey })).statusCode).toBe(200);
  return body.apiKey;
};

const submit = async (spec: Record<string, unknown>, key = acmeKey, idem?: string) =>
  call('POST', '/v1/jobs', {
    key,
    body: spec,
    ...(idem === undefined ? {} : { headers: { 'idempotency-key': idem } }),
  });

const projected = (id: string, predicate: (job: Record<string, unknown>) => boolean = () => true) =>
  eventually<Record<string, unknown>>(async () => {
    const res = await call('GET', `/v1/jobs/${id}`, { key: acmeKey });
    return res.statusCode === 200 && predicate(res.json()) ? res.json() : undefined;
  }, `job ${id} in the projection`);

beforeAll(async () => {
  db = await createTestDatabase('gantry_gw');
  const { natsUrl } = resolveServerUrls();
  nc = await connectNats(natsUrl, 'gateway-int');
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, subjects);
  await runMigrations(db.url, [...gatewayMigrations, ...messagingMigrations]);
  const env = { DATABASE_URL: db.url, NATS_URL: natsUrl, GANTRY_NAMESPACE: subjects.namespace };
  services.push(
    ...(await Promise.all(
      ['controller', 'admission', 'event-publisher', 'projector'].map((name) =>
        startService(name, env),
      ),
    )),
  );
  pool = new Pool({ connectionString: db.url, max: 4 });
  app = await createGatewayApp({
    nc,
    subjects,
    pool,
    store: new PostgresEventStore(pool, eventRegistry),
    adminToken: ADMIN_TOKEN,
    logger: false,
  });
  // Over real HTTP: Fastify's inject pulls in an ES-module-only cookie parser Jest cannot load.
  await app.listen(0, '127.0.0.1');
  baseUrl = await app.getUrl();
  acmeKey = await createTenant('acme');
  globexKey = await createTenant('globex');
}, 180_000);

afterAll(async () => {
  await app?.close();
  await Promise.all(services.map((s) => s.stop()));
  await deleteStreams(jsm, subjects).catch(() => undefined);
  await pool?.end();
  await nc?.drain();
  await db?.drop();
});

describe('tenants', () => {
  it('refuses tenant creation without the admin token, or with a tenant key', async () => {
    const body = { id: 'nope', name: 'Nope', quotas: { cores: 1, concurrentJobs: 1 } };
    expectProblem(await call('POST', '/v1/admin/tenants', { body }), 401, 'UNAUTHENTICATED');
    expectProblem(await call('POST', '/v1/admin/tenants', { key: 'wrong', body }), 401);
    expectProblem(await call('POST', '/v1/admin/tenants', { key: acmeKey, body }), 401);
  });

  it('answers 409 for a tenant that exists', async () => {
    const res = await call('POST', '/v1/admin/tenants', {
      key: ADMIN_TOKEN,
      body: { id: 'acme', name: 'Again', quotas: { cores: 1, concurrentJobs: 1 } },
    });
    expectProblem(res, 409, 'TENANT_EXISTS');
  });
});

describe('auth', () => {
  it.each([
    ['no key', null],
    ['a wrong key', 'gk_000000000000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['garbage', 'not-a-key'],
    ['the admin token', ADMIN_TOKEN],
  ])('answers 401 problem+json to %s', async (_name, key) => {
    expectProblem(await call('GET', '/v1/jobs', { key }), 401, 'UNAUTHENTICATED');
    expectProblem(await submit(aSpec(), key as string), 401, 'UNAUTHENTICATED');
  });
});

describe('submitting', () => {
  it('answers 201 with the id and state, and the job becomes readable', async () => {
    const res = await submit(aSpec({ name: 'hello' }));
    expect(res.statusCode).toBe(201);
    const { id, state } = res.json<{ id: string; state: string }>();
    // Submitted through admission: under quota, it comes back admitted and queued.
    expect(state).toBe('QUEUED');
    // The 201 waits until the job is readable: no 404 right after it.
    const read = await call('GET', `/v1/jobs/${id}`, { key: acmeKey });
    expect(read.statusCode).toBe(200);
    const job = await projected(id);
    expect(job).toMatchObject({ id, name: 'hello', nodes: 1, pool: 'cpu', attempts: 0 });
    expect(job['submittedAt']).toEqual(expect.any(String));
  });

  it('gives the same job for the same Idempotency-Key, never a second', async () => {
    const key = uniqueName('idem');
    const before = await jobEventCount();
    const first = await submit(aSpec(), acmeKey, key);
    const second = await submit(aSpec(), acmeKey, key);
    expect([first.statusCode, second.statusCode]).toEqual([201, 201]);
    expect(second.json()['id']).toBe(first.json()['id']);
    // One job, admitted once: JobSubmitted, JobAdmitted, JobQueued, and nothing for the repeat.
    expect((await jobEventCount()) - before).toBe(3);
    // The same key under another tenant is another job.
    const other = await submit(aSpec(), globexKey, key);
    expect(other.json()['id']).not.toBe(first.json()['id']);
  });

  it.each([
    ['a malformed body', { rawBody: '{"command": [' }],
    ['a spec with no command', { body: { resources: { cpu: 1, memoryMiB: 1 } } }],
    ['an unknown field', { body: aSpec({ colour: 'blue' }) }],
    ['a wrong type', { body: aSpec({ nodes: 'two' }) }],
    ['a huge body', { body: aSpec({ env: { BIG: 'x'.repeat(2 * 1024 * 1024) } }) }],
    ['not JSON at all', { rawBody: 'hello', headers: { 'content-type': 'text/plain' } }],
  ])('refuses %s with 4xx problem+json and stores nothing', async (_name, request) => {
    const before = await jobEventCount();
    const res = await call('POST', '/v1/jobs', { key: acmeKey, ...request });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    expectProblem(res, res.statusCode);
    expect(await jobEventCount()).toBe(before);
  });

  it('lists every issue of an invalid spec', async () => {
    const res = await submit(aSpec({ nodes: 'two', colour: 'blue' }));
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(res.json<{ issues: unknown[] }>().issues.length).toBeGreaterThanOrEqual(2);
  });

  it('answers 413 to a body over the limit', async () => {
    const res = await submit(aSpec({ env: { BIG: 'x'.repeat(2 * 1024 * 1024) } }));
    expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
  });
});

describe('quotas', () => {
  it('refuses a job over the cores quota with 422 problem+json and the numbers', async () => {
    const tenantKey = await createTenant(uniqueName('quota').replace(/_/g, '-').toLowerCase(), {
      cores: 4,
      concurrentJobs: 10,
    });
    const fits = await submit(aSpec({ resources: { cpu: 2, memoryMiB: 64 } }), tenantKey);
    expect(fits.json()).toMatchObject({ state: 'QUEUED' });
    const res = await submit(aSpec({ resources: { cpu: 2, memoryMiB: 64 } }), tenantKey);
    expectProblem(res, 422, 'QUOTA_EXCEEDED');
    const problem = res.json();
    expect(problem).toMatchObject({
      dimension: 'cores',
      usage: 2,
      request: 2,
      limit: 4,
      threshold: 3.6,
      jobId: expect.any(String),
    });
    expect(problem['detail']).toMatch(/cores/);
    // The refused job exists, REJECTED with the same reason, readable by its tenant.
    const rejected = await eventually<Record<string, unknown>>(async () => {
      const job = await call('GET', `/v1/jobs/${String(problem['jobId'])}`, { key: tenantKey });
      return job.statusCode === 200 && job.json()['state'] === 'REJECTED' ? job.json() : undefined;
    }, 'the rejected job');
    expect(rejected['id']).toBe(problem['jobId']);
  });

  it('answers a dry run with the verdict the submission gets, and stores nothing', async () => {
    const id = uniqueName('dry').replace(/_/g, '-').toLowerCase();
    const tenantKey = await createTenant(id, { cores: 10 });
    const big = aSpec({ resources: { cpu: 9, memoryMiB: 64 } });
    const small = aSpec({ resources: { cpu: 2, memoryMiB: 64 } });

    const dryBig = await call('POST', '/v1/jobs?dryRun=true', { key: tenantKey, body: big });
    expect(dryBig.statusCode).toBe(200);
    expect(dryBig.json()).toMatchObject({
      dryRun: true,
      admit: false,
      reservation: { cores: 9, memoryMiB: 64, gpus: 0 },
      refusal: { code: 'QUOTA_EXCEEDED', details: { dimension: 'cores', limit: 10 } },
    });
    const drySmall = await call('POST', '/v1/jobs?dryRun=true', { key: tenantKey, body: small });
    expect(drySmall.json()).toMatchObject({ dryRun: true, admit: true, refusal: null });
    // Nothing stored: no job listed, nothing reserved.
    const listed = await call('GET', '/v1/jobs', { key: tenantKey });
    expect(listed.json<{ items: unknown[] }>().items).toEqual([]);

    // The real submissions agree with the dry runs.
    expectProblem(await submit(big, tenantKey), 422, 'QUOTA_EXCEEDED');
    expect((await submit(small, tenantKey)).statusCode).toBe(201);
  });

  it('lets the admin replace the quotas, and admission decides on the new ones', async () => {
    const id = uniqueName('requota').replace(/_/g, '-').toLowerCase();
    const tenantKey = await createTenant(id, { cores: 100 });
    const job = aSpec({ resources: { cpu: 8, memoryMiB: 64 } });
    expect((await submit(job, tenantKey)).statusCode).toBe(201);

    const refused = await call('PUT', `/v1/admin/tenants/${id}/quotas`, {
      key: tenantKey,
      body: { cores: 10 },
    });
    expectProblem(refused, 401, 'UNAUTHENTICATED');
    expectProblem(
      await call('PUT', `/v1/admin/tenants/${id}/quotas`, { key: ADMIN_TOKEN, body: { cpus: 10 } }),
      400,
    );
    const set = await call('PUT', `/v1/admin/tenants/${id}/quotas`, {
      key: ADMIN_TOKEN,
      body: { cores: 10 },
    });
    expect({ status: set.statusCode, body: set.json() }).toEqual({
      status: 200,
      body: { id, quotas: { cores: 10 } },
    });
    // 8 cores held + 8 more would pass 90 % of the new 10.
    expectProblem(await submit(job, tenantKey), 422, 'QUOTA_EXCEEDED');
  });

  it('shows usage against every quota, and gives it back when the job ends', async () => {
    const tenantKey = await createTenant(uniqueName('usage').replace(/_/g, '-').toLowerCase(), {
      cores: 10,
      memoryMiB: 4096,
      concurrentJobs: 10,
    });
    const job = (
      await submit(aSpec({ nodes: 2, resources: { cpu: 1.5, memoryMiB: 512 } }), tenantKey)
    ).json<{ id: string }>();
    const usage = await eventually(async () => {
      const res = await call('GET', '/v1/usage', { key: tenantKey });
      expect(res.statusCode).toBe(200);
      const body = res.json<{ dimensions: Record<string, Record<string, number | null>> }>();
      return body.dimensions['cores']!['used'] === 3 ? body : undefined;
    }, 'the reservation in the usage');
    expect(usage.dimensions).toEqual({
      cores: { limit: 10, used: 3, threshold: 9, headroom: 6 },
      memoryMiB: { limit: 4096, used: 1024, threshold: 3686.4, headroom: 2662.4 },
      gpus: { limit: null, used: 0, threshold: null, headroom: null },
      concurrentJobs: { limit: 10, used: 1, threshold: 9, headroom: 8 },
      storageBytes: { limit: null, used: 0, threshold: null, headroom: null },
      ingressBytes: { limit: null, used: 0, threshold: null, headroom: null },
      egressBytes: { limit: null, used: 0, threshold: null, headroom: null },
    });

    expect((await call('POST', `/v1/jobs/${job.id}/cancel`, { key: tenantKey })).statusCode).toBe(
      200,
    );
    await eventually(async () => {
      const res = await call('GET', '/v1/usage', { key: tenantKey });
      const body = res.json<{ dimensions: Record<string, Record<string, number | null>> }>();
      return body.dimensions['concurrentJobs']!['used'] === 0 &&
        body.dimensions['cores']!['used'] === 0
        ? true
        : undefined;
    }, 'the usage to return to zero');
    expect((await call('GET', '/v1/usage')).statusCode).toBe(401);
  });
});

describe('tenancy', () => {
  let acmeJob: string;

  beforeAll(async () => {
    acmeJob = (await submit(aSpec({ name: 'private' }))).json<{ id: string }>().id;
    await projected(acmeJob);
  });

  it("answers 404 to another tenant's job, exactly as to a missing one", async () => {
    const theirs = await call('GET', `/v1/jobs/${acmeJob}`, { key: globexKey });
    const missing = await call('GET', '/v1/jobs/00000000-0000-4000-8000-000000000000', {
      key: globexKey,
    });
    expectProblem(theirs, 404, 'NOT_FOUND');
    expect(theirs.json()['detail']).toBe(missing.json()['detail']);
    expectProblem(await call('GET', `/v1/jobs/${acmeJob}/events`, { key: globexKey }), 404);
  });

  it("refuses to cancel another tenant's job with 404, and the job is untouched", async () => {
    const res = await call('POST', `/v1/jobs/${acmeJob}/cancel`, { key: globexKey });
    expectProblem(res, 404, 'NOT_FOUND');
    const events = await call('GET', `/v1/jobs/${acmeJob}/events`, { key: acmeKey });
    expect(events.json<{ events: { type: string }[] }>().events.map((e) => e.type)).toEqual([
      'JobSubmitted',
      'JobAdmitted',
      'JobQueued',
    ]);
  });

  it("does not list another tenant's jobs", async () => {
    const theirs = await call('GET', '/v1/jobs?limit=200', { key: globexKey });
    expect(theirs.statusCode).toBe(200);
    const ids = theirs.json<{ items: { id: string }[] }>().items.map((j) => j.id);
    expect(ids).not.toContain(acmeJob);
  });
});

describe('listing', () => {
  it('pages through the caller’s jobs, newest first, with an opaque cursor', async () => {
    const tenantKey = await createTenant(uniqueName('lst').replace(/_/g, '-').toLowerCase());
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      ids.push((await submit(aSpec({ name: `job-${i}` }), tenantKey)).json<{ id: string }>().id);
    }
    await eventually(async () => {
      const res = await call('GET', '/v1/jobs?limit=200', { key: tenantKey });
      return res.json<{ items: unknown[] }>().items.length === 5 ? true : undefined;
    }, 'five jobs listed');

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/jobs?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await call('GET', url, { key: tenantKey });
      expect(page.statusCode).toBe(200);
      const body = page.json<{ items: { id: string }[]; nextCursor: string | null }>();
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items.map((j) => j.id));
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());

    await eventually(async () => {
      const queued = await call('GET', '/v1/jobs?state=QUEUED&limit=200', { key: tenantKey });
      return queued.json<{ items: unknown[] }>().items.length === 5 ? true : undefined;
    }, 'five jobs listed as QUEUED');
    const running = await call('GET', '/v1/jobs?state=RUNNING', { key: tenantKey });
    expect(running.json<{ items: unknown[] }>().items).toHaveLength(0);
  });

  it.each([
    ['limit=0'],
    ['limit=201'],
    ['limit=abc'],
    ['state=DONE'],
    ['cursor=not-a-cursor'],
    ['unknown=1'],
  ])('refuses ?%s with 400 problem+json', async (query) => {
    expectProblem(
      await call('GET', `/v1/jobs?${query}`, { key: acmeKey }),
      400,
      'VALIDATION_FAILED',
    );
  });
});

describe('cancel and history', () => {
  it('cancels a QUEUED job, and its events tell the story in order', async () => {
    const { id } = (await submit(aSpec())).json<{ id: string }>();
    const res = await call('POST', `/v1/jobs/${id}/cancel`, {
      key: acmeKey,
      body: { reason: 'changed my mind' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()['id']).toBe(id);
    await projected(id, (job) => job['state'] === 'CANCELLED');

    const history = await call('GET', `/v1/jobs/${id}/events`, { key: acmeKey });
    expect(history.statusCode).toBe(200);
    const events = history.json<{ events: { type: string; version: number }[] }>().events;
    expect(events[0]!.type).toBe('JobSubmitted');
    expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1));
    expect(events.map((e) => e.type)).toContain('JobCancelled');

    // Cancelling what is already over is refused by the state machine.
    const again = await call('POST', `/v1/jobs/${id}/cancel`, { key: acmeKey });
    expect(again.statusCode).toBeGreaterThanOrEqual(200);
    if (again.statusCode !== 200) expectProblem(again, 409, 'ILLEGAL_TRANSITION');
  });

  it('holds a queued job and releases it back to the queue; another tenant gets 404', async () => {
    const { id } = (await submit(aSpec())).json<{ id: string }>();
    expectProblem(await call('POST', `/v1/jobs/${id}/hold`, { key: globexKey }), 404, 'NOT_FOUND');
    const held = await call('POST', `/v1/jobs/${id}/hold`, {
      key: acmeKey,
      body: { reason: 'waiting for the data' },
    });
    expect({ status: held.statusCode, state: held.json()['state'] }).toEqual({
      status: 200,
      state: 'HELD',
    });
    expectProblem(await call('POST', `/v1/jobs/${id}/hold`, { key: acmeKey }), 409);
    const released = await call('POST', `/v1/jobs/${id}/release`, { key: acmeKey });
    expect({ status: released.statusCode, state: released.json()['state'] }).toEqual({
      status: 200,
      state: 'QUEUED',
    });
    const history = await call('GET', `/v1/jobs/${id}/events`, { key: acmeKey });
    const types = history.json<{ events: { type: string }[] }>().events.map((e) => e.type);
    expect(types.slice(-2)).toEqual(['JobHeld', 'JobReleased']);
  });

  it('answers 404 to the events of a job that does not exist', async () => {
    expectProblem(
      await call('GET', '/v1/jobs/00000000-0000-4000-8000-000000000000/events', { key: acmeKey }),
      404,
      'NOT_FOUND',
    );
    expectProblem(await call('GET', '/v1/jobs/..%2F..%2Fetc/events', { key: acmeKey }), 404);
  });
});

describe('openapi.json', () => {
  it('is an OpenAPI 3.1 document with the paths of the contract', async () => {
    const res = await call('GET', '/v1/openapi.json');
    expect(res.statusCode).toBe(200);
    const doc = res.json<{ openapi: string; info: unknown; paths: Record<string, unknown> }>();
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info).toBeDefined();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/admin/tenants',
        '/v1/jobs',
        '/v1/jobs/{id}',
        '/v1/jobs/{id}/cancel',
        '/v1/jobs/{id}/events',
      ]),
    );
  });

  it('answers an unknown route with 404 problem+json', async () => {
    expectProblem(await call('GET', '/v1/nothing-here', { key: acmeKey }), 404);
  });
});
