import { createHash, randomBytes } from 'node:crypto';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Pool } from 'pg';
import { createSubjects, eventRegistry, JobSpecSchema, SYSTEM_TENANT } from '@gantry/contracts';
import { apiKeyMaterialFrom, formatApiKey, hashApiKeySecret } from '@gantry/domain';
import { PostgresEventStore, runMigrations } from '@gantry/event-store';
import {
  commandEnvelope,
  connectNats,
  deleteStreams,
  ensureStreams,
  sendCommand,
} from '@gantry/messaging';
import {
  createTestDatabase,
  resolveServerUrls,
  uniqueName,
  type TestDatabase,
} from '@gantry/testing';
import { createGatewayApp } from '../src/app';
import { gatewayMigrations } from '../src/migrations';
import { type ServiceProcess } from '@gantry/platform';
import { startService } from './processes';

/**
 * POST /v1/files and GET /v1/files/{id} over real HTTP, with staging running as its own process
 * (main.ts) on a real Postgres and nats-server. Keys are written straight into api_keys: the
 * tenant directory has its own tests, and what is under test here is the files routes.
 */
const UPLOAD_LIMIT = 256 * 1024;
const subjects = createSubjects(uniqueName('t'));
let db: TestDatabase;
let pool: Pool;
let nc: NatsConnection;
let jsm: JetStreamManager;
let staging: ServiceProcess;
let admission: ServiceProcess;
let app: NestFastifyApplication;
let baseUrl: string;
let acmeKey: string;
let globexKey: string;

const createKey = async (tenant: string): Promise<string> => {
  const material = apiKeyMaterialFrom(randomBytes(44));
  await pool.query(
    `INSERT INTO api_keys (key_id, tenant, hash, created_at, last_version)
     VALUES ($1, $2, $3, now(), 1)`,
    [material.keyId, tenant, hashApiKeySecret(material)],
  );
  return formatApiKey(material);
};

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

const call = async (
  method: 'GET' | 'POST' | 'PUT',
  url: string,
  options: { key?: string | null; json?: unknown; bytes?: Uint8Array } = {},
): Promise<{ status: number; type: string; body: Record<string, unknown> }> => {
  const headers: Record<string, string> = {};
  if (options.key) headers['authorization'] = `Bearer ${options.key}`;
  let body: string | Uint8Array | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.bytes !== undefined) {
    headers['content-type'] = 'application/octet-stream';
    body = options.bytes;
  }
  const res = await fetch(url.startsWith('http') ? url : `${baseUrl}${url}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
};

const fileEventCount = async (): Promise<number> =>
  (
    await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM events WHERE stream_id LIKE 'file-%'",
    )
  ).rows[0]!.n;

beforeAll(async () => {
  db = await createTestDatabase('gantry_gw_files');
  const { natsUrl } = resolveServerUrls();
  nc = await connectNats(natsUrl, 'gateway-files-int');
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, subjects);
  await runMigrations(db.url, gatewayMigrations);
  // Uploaded bytes are charged to the tenant by admission (B1): the tenants must exist there.
  admission = await startService('admission', {
    DATABASE_URL: db.url,
    NATS_URL: natsUrl,
    GANTRY_NAMESPACE: subjects.namespace,
  });
  for (const id of ['acme', 'globex'])
    await sendCommand(
      nc,
      subjects,
      'admission',
      'create-tenant',
      commandEnvelope(
        'CreateTenant',
        { id, name: id, quotas: {} },
        {
          tenant: SYSTEM_TENANT,
          actor: 'admin',
          correlationId: `files-int-${id}`,
        },
      ),
      { timeoutMs: 30_000 },
    );
  staging = await startService('staging', {
    DATABASE_URL: db.url,
    NATS_URL: natsUrl,
    GANTRY_NAMESPACE: subjects.namespace,
    GANTRY_STAGING_PORT: '0',
    GANTRY_STAGING_HOST: '127.0.0.1',
    GANTRY_STAGING_SECRET: 'gateway-files-int-secret',
  });
  pool = new Pool({ connectionString: db.url, max: 4 });
  app = await createGatewayApp({
    nc,
    subjects,
    pool,
    store: new PostgresEventStore(pool, eventRegistry),
    adminToken: 'admin-token-for-tests',
    uploadBodyLimitBytes: UPLOAD_LIMIT,
    logger: false,
  });
  await app.listen(0, '127.0.0.1');
  baseUrl = await app.getUrl();
  acmeKey = await createKey('acme');
  globexKey = await createKey('globex');
}, 180_000);

afterAll(async () => {
  await app?.close();
  await staging?.stop();
  await admission?.stop();
  await deleteStreams(jsm, subjects).catch(() => undefined);
  await pool?.end();
  await nc?.drain();
  await db?.drop();
});

describe('POST /v1/files with JSON, then PUT to the upload URL', () => {
  it('creates a pending file whose upload URL takes the bytes, then shows it READY', async () => {
    const bytes = randomBytes(10_000);
    const created = await call('POST', '/v1/files', {
      key: acmeKey,
      json: { name: 'table.csv', size: bytes.length, sha256: sha256(bytes) },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^file-[0-9a-f]{32}$/),
      state: 'PENDING_UPLOAD',
      uploadUrl: expect.stringContaining('/blobs/'),
      expiresAt: expect.any(String),
    });
    const id = created.body['id'] as string;
    expect((await call('GET', `/v1/files/${id}`, { key: acmeKey })).body).toMatchObject({
      id,
      name: 'table.csv',
      state: 'PENDING_UPLOAD',
    });

    const put = await call('PUT', created.body['uploadUrl'] as string, { bytes });
    expect(put.status).toBe(200);

    const read = await call('GET', `/v1/files/${id}`, { key: acmeKey });
    expect(read.status).toBe(200);
    expect(read.body).toEqual({
      id,
      name: 'table.csv',
      state: 'READY',
      size: bytes.length,
      sha256: sha256(bytes),
      createdAt: expect.any(String),
      uploadedAt: expect.any(String),
    });
    // What a tenant gets back is what a job spec takes as an input.
    expect(
      JobSpecSchema.safeParse({
        command: ['cat', 'in/table.csv'],
        resources: { cpu: 1, memoryMiB: 64 },
        inputs: [{ name: 'table', ref: id, path: 'in/table.csv' }],
      }).success,
    ).toBe(true);
  });

  it('refuses an invalid file with 400 and stores nothing', async () => {
    const before = await fileEventCount();
    for (const json of [
      { name: 'a/b' },
      { name: 'x', size: -1 },
      { name: 'x', colour: 'red' },
      {},
    ]) {
      const res = await call('POST', '/v1/files', { key: acmeKey, json });
      expect({ status: res.status, type: res.type }).toEqual({
        status: 400,
        type: expect.stringContaining('application/problem+json'),
      });
    }
    expect(await fileEventCount()).toBe(before);
  });
});

describe('POST /v1/files with the bytes', () => {
  it('stages them in one call and answers the READY file', async () => {
    const bytes = randomBytes(50_000);
    const res = await call('POST', '/v1/files?name=weights.bin', { key: acmeKey, bytes });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^file-[0-9a-f]{32}$/),
      state: 'READY',
      size: bytes.length,
      sha256: sha256(bytes),
    });
    const read = await call('GET', `/v1/files/${res.body['id'] as string}`, { key: acmeKey });
    expect(read.body).toMatchObject({ name: 'weights.bin', state: 'READY', size: bytes.length });
  });

  it('names a file without ?name= "upload"', async () => {
    const res = await call('POST', '/v1/files', { key: acmeKey, bytes: randomBytes(10) });
    expect(res.status).toBe(201);
    const read = await call('GET', `/v1/files/${res.body['id'] as string}`, { key: acmeKey });
    expect(read.body).toMatchObject({ name: 'upload', state: 'READY' });
  });

  it('refuses a body over the upload limit with 413 and stores nothing', async () => {
    const before = await fileEventCount();
    const res = await call('POST', '/v1/files?name=big', {
      key: acmeKey,
      bytes: randomBytes(UPLOAD_LIMIT + 1),
    });
    expect(res.status).toBe(413);
    expect(await fileEventCount()).toBe(before);
  });
});

describe('tenancy and auth', () => {
  it("answers 404 to another tenant's file, and to ids that are not files", async () => {
    const res = await call('POST', '/v1/files?name=secret.txt', {
      key: acmeKey,
      bytes: Buffer.from('acme only'),
    });
    const id = res.body['id'] as string;
    expect((await call('GET', `/v1/files/${id}`, { key: acmeKey })).status).toBe(200);
    for (const path of [id, `file-${'0'.repeat(32)}`, 'not-a-file']) {
      const other = await call('GET', `/v1/files/${path}`, { key: globexKey });
      expect({ status: other.status, code: other.body['code'] }).toEqual({
        status: 404,
        code: 'NOT_FOUND',
      });
    }
  });

  it('answers 401 without a key', async () => {
    expect((await call('POST', '/v1/files', { json: { name: 'x' } })).status).toBe(401);
    expect((await call('GET', `/v1/files/file-${'0'.repeat(32)}`)).status).toBe(401);
  });
});
