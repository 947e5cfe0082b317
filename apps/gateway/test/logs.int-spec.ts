import { randomBytes } from 'node:crypto';
import { type NatsConnection } from '@nats-io/transport-node';
import { type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Pool } from 'pg';
import { createSubjects, eventRegistry, type LogChunk } from '@gantry/contracts';
import { apiKeyMaterialFrom, formatApiKey, hashApiKeySecret } from '@gantry/domain';
import { PostgresEventStore, runMigrations } from '@gantry/event-store';
import { connectNats } from '@gantry/messaging';
import { insertLogChunks } from '@gantry/projections';
import {
  createTestDatabase,
  resolveServerUrls,
  uniqueName,
  type TestDatabase,
} from '@gantry/testing';
import { createGatewayApp } from '../src/app';
import { gatewayMigrations } from '../src/migrations';
import { LogsController } from '../src/logs.controller';

/**
 * The logs routes over real HTTP against Postgres and nats-server. The relay's side is played by
 * the test: it stores chunks with the relay's own insert and sends the relay's wake-up, so what is
 * under test is the gateway (the relay has its own tests).
 */
const subjects = createSubjects(uniqueName('t'));
let db: TestDatabase;
let pool: Pool;
let nc: NatsConnection;
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

const createJob = async (
  jobId: string,
  job: { state: string; nodes: number; attempt: number; tenant?: string },
): Promise<void> => {
  await pool.query(
    `INSERT INTO job_summary (tenant, job_id, state, nodes, pool, priority, submitted_at,
                              updated_at, last_version, attempt)
     VALUES ($1, $2, $3, $4, 'cpu', 0, now(), now(), 1, $5)`,
    [job.tenant ?? 'acme', jobId, job.state, job.nodes, job.attempt],
  );
};

const setState = (jobId: string, state: string) =>
  pool.query("UPDATE job_summary SET state = $2 WHERE tenant = 'acme' AND job_id = $1", [
    jobId,
    state,
  ]);

let clock = Date.UTC(2026, 10, 23, 10, 0, 0);
const aChunk = (
  jobId: string,
  attempt: number,
  rank: number,
  seq: number,
  overrides: Partial<LogChunk> = {},
): LogChunk => ({
  tenant: 'acme',
  jobId,
  attempt,
  rank,
  leaseEpoch: attempt,
  seq,
  stream: 'stdout',
  data: `a${attempt} r${rank} s${seq}\n`,
  at: new Date((clock += 1)).toISOString(),
  eof: false,
  ...overrides,
});

/** What the relay does after a commit. */
const store = async (...chunks: LogChunk[]): Promise<void> => {
  await insertLogChunks(pool, chunks);
  for (const jobId of new Set(chunks.map((c) => c.jobId)))
    nc.publish(subjects.logCommitted('acme', jobId));
};

const get = async (url: string, key: string | null, headers: Record<string, string> = {}) => {
  const res = await fetch(`${baseUrl}${url}`, {
    headers: { ...headers, ...(key ? { authorization: `Bearer ${key}` } : {}) },
  });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: await res.text(),
  };
};

interface SseEvent {
  readonly id?: string;
  readonly event: string;
  readonly data: string;
}

/** A minimal EventSource over fetch: keeps every event, and whether the server ended the stream. */
class SseClient {
  readonly events: SseEvent[] = [];
  ended = false;
  status = 0;
  private readonly abort = new AbortController();
  private readonly done: Promise<void>;

  constructor(url: string, key: string, headers: Record<string, string> = {}, base = baseUrl) {
    this.done = (async () => {
      const res = await fetch(`${base}${url}`, {
        headers: { ...headers, authorization: `Bearer ${key}`, accept: 'text/event-stream' },
        signal: this.abort.signal,
      });
      this.status = res.status;
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            fields.set(line.slice(0, colon), line.slice(colon + 1).replace(/^ /, ''));
          }
          if (!fields.has('data')) continue;
          this.events.push({
            ...(fields.has('id') ? { id: fields.get('id')! } : {}),
            event: fields.get('event') ?? 'message',
            data: fields.get('data')!,
          });
        }
      }
      this.ended = true;
    })().catch((err: unknown) => {
      if (!this.abort.signal.aborted) throw err;
    });
  }

  logs(): { attempt: number; rank: number; seq: number; data: string }[] {
    return this.events.filter((e) => e.event === 'log').map((e) => JSON.parse(e.data));
  }

  async waitFor(what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }

  finished(): Promise<void> {
    return this.done;
  }
}

/** The open follows of the gateway under test (private: how a disconnect is seen to stop one). */
const followers = (): Set<unknown> =>
  (app.get(LogsController) as unknown as { followers: Set<unknown> }).followers;

const seqs = (client: SseClient) => client.logs().map((l) => `${l.attempt}.${l.rank}.${l.seq}`);

beforeAll(async () => {
  db = await createTestDatabase('gantry_gw_logs');
  await runMigrations(db.url, gatewayMigrations);
  pool = new Pool({ connectionString: db.url, max: 6 });
  nc = await connectNats(resolveServerUrls().natsUrl, 'gateway-logs-int');
  app = await createGatewayApp({
    nc,
    subjects,
    pool,
    store: new PostgresEventStore(pool, eventRegistry),
    adminToken: 'admin',
    logger: false,
  });
  await app.listen(0, '127.0.0.1');
  baseUrl = await app.getUrl();
  acmeKey = await createKey('acme');
  globexKey = await createKey('globex');
}, 60_000);

afterAll(async () => {
  await app?.close();
  await pool?.end();
  await nc?.drain();
  await db?.drop();
});

describe('GET /v1/jobs/{id}/logs?tail=N', () => {
  it('answers the last lines of the latest attempt, ranks interleaved by time and prefixed', async () => {
    const jobId = uniqueName('job');
    await createJob(jobId, { state: 'RUNNING', nodes: 2, attempt: 2 });
    await store(
      aChunk(jobId, 1, 0, 0, { data: 'old attempt\n' }),
      aChunk(jobId, 2, 0, 0, { data: 'zero one\nzero ' }),
      aChunk(jobId, 2, 1, 0, { data: 'one one\n' }),
      aChunk(jobId, 2, 0, 1, { data: 'two\n' }),
      aChunk(jobId, 2, 1, 1, { data: 'err\n', stream: 'stderr' }),
      aChunk(jobId, 2, 0, 2, { data: '', eof: true, exitCode: 0 }),
    );

    const all = await get(`/v1/jobs/${jobId}/logs`, acmeKey);
    expect(all).toMatchObject({ status: 200, type: expect.stringContaining('text/plain') });
    expect(all.body).toBe('[rank 0] zero one\n[rank 1] one one\n[rank 0] zero two\n[rank 1] err\n');

    expect((await get(`/v1/jobs/${jobId}/logs?tail=2`, acmeKey)).body).toBe(
      '[rank 0] zero two\n[rank 1] err\n',
    );
    expect((await get(`/v1/jobs/${jobId}/logs?rank=0`, acmeKey)).body).toBe('zero one\nzero two\n');
    expect((await get(`/v1/jobs/${jobId}/logs?attempt=1`, acmeKey)).body).toBe(
      '[rank 0] old attempt\n',
    );
  });

  it('reads a long log from its end', async () => {
    const jobId = uniqueName('job');
    await createJob(jobId, { state: 'RUNNING', nodes: 1, attempt: 1 });
    const lines = Array.from({ length: 3_000 }, (_, i) => `line ${i}`);
    // Two and a half lines per chunk, so lines are cut across chunks.
    const text = lines.join('\n') + '\n';
    const chunks: LogChunk[] = [];
    for (let seq = 0, at = 0; at < text.length; seq++, at += 17)
      chunks.push(aChunk(jobId, 1, 0, seq, { data: text.slice(at, at + 17) }));
    await store(...chunks);
    const res = await get(`/v1/jobs/${jobId}/logs?tail=1500`, acmeKey);
    expect(res.body).toBe(lines.slice(1_500).join('\n') + '\n');
  });

  it('answers an empty text for a job that has not run', async () => {
    const jobId = uniqueName('job');
    await createJob(jobId, { state: 'QUEUED', nodes: 1, attempt: 0 });
    expect(await get(`/v1/jobs/${jobId}/logs`, acmeKey)).toMatchObject({ status: 200, body: '' });
  });

  it("answers 404 for another tenant's job and for a missing one, 401 without a key", async () => {
    const jobId = uniqueName('job');
    await createJob(jobId, { state: 'RUNNING', nodes: 1, attempt: 1 });
    await store(aChunk(jobId, 1, 0, 0, { data: 'secret\n' }));
    for (const res of [
      await get(`/v1/jobs/${jobId}/logs`, globexKey),
      await get(`/v1/jobs/${jobId}/logs?follow=true`, globexKey),
      await get(`/v1/jobs/${uniqueName('nope')}/logs`, acmeKey),
    ]) {
      expect(res).toMatchObject({ status: 404, type: expect.stringContaining('problem+json') });
      expect(res.body).not.toContain('secret');
    }
    expect((await get(`/v1/jobs/${jobId}/logs`, null)).status).toBe(401);
  });

  it.each([
    ['a tail over the maximum', '?tail=100001'],
    ['an unknown parameter', '?colour=blue'],
    ['a malformed cursor', '?follow=true&cursor=nonsense'],
  ])('answers 400 problem+json to %s', async (_name, query) => {
    const jobId = uniqueName('job');
    await createJob(jobId, { state: 'RUNNING', nodes: 1, attempt: 1 });
    const res = await get(`/v1/jobs/${jobId}/logs${query}`, acmeKey);
    expect(res).toMatchObject({ status: 400, type: expect.stringContaining('problem+json') });
  });
});

describe('GET /v1/jobs/{id}/logs?follow=true', () => {
  it('streams what is stored, then new chunks as they are committed, in seq order per rank', async () => {
    const jobId = uniqueName('job');
    await createJob(jobId, { state: 'RUNNING', nodes: 1, attempt: 1 });
    await store(aChunk(jobId, 1, 0, 0), aChunk(jobId, 1, 0, 1));
    const client = new SseClient(`/v1/jobs/${jobId}/logs?follow=true`, acmeKey);
    try {
      await client.waitFor('the stored chunks', () => client.logs().length === 2);
      expect(client.status).toBe(200);
      // seq 3 before seq 2: held back until 2 is there, so the cursor never skips.
      await store(aChunk(jobId, 1, 0, 3));
      await store(aChunk(jobId, 1, 0, 2));
      await client.waitFor('the live chunks', () => client.logs().length === 4);
      expect(seqs(client)).toEqual(['1.0.0', '1.0.1', '1.0.2', '1.0.3']);
      expect(client.events.map((e) => e.id)).toEqual(['1.0.0', '1.0.1', '1.0.2', '1.0.3']);
      expect(client.logs()[2]).toMatchObject({
        attempt: 1,
        rank: 0,
        stream: 'stdout',
        data: 'a1 r0 s2\n',
      });
      expect(client.ended).toBe(false);
    } finally {
      await client.close();
    }
  });

  it('resumes after a disconnect from Last-Event-ID: nothing missed, nothing twice', async () => {
    const jobId = uniqueName('job');
    await createJob(jobId, { state: 'RUNNING', nodes: 2, attempt: 1 });
    await store(aChunk(jobId, 1, 0, 0), aChunk(jobId, 1, 1, 0), aChunk(jobId, 1, 0, 1));
    const first = new SseClient(`/v1/jobs/${jobId}/logs?follow=true`, acmeKey);
    await first.waitFor('three chunks', () => first.logs().length === 3);
    await first.close();
    // The server notices the disconnect: the follow loop stops and unsubscribes.
    await first.waitFor('the server to drop the follower', () => followers().size === 0);
    const lastId = first.events[first.events.length - 1]!.id!;

    // Written while nobody follows.
    await store(aChunk(jobId, 1, 1, 1), aChunk(jobId, 1, 0, 2));
    const second = new SseClient(`/v1/jobs/${jobId}/logs?follow=true`, acmeKey, {
      'last-event-id': lastId,
    });
    try {
      await second.waitFor('the missed chunks', () => second.logs().length === 2);
      await store(aChunk(jobId, 1, 1, 2, { eof: true, exitCode: 0, data: '' }));
      await store(aChunk(jobId, 1, 0, 3, { eof: true, exitCode: 0, data: '' }));
      await second.waitFor('the last chunks', () => second.logs().length === 4);
      const all = [...seqs(first), ...seqs(second)];
      expect(new Set(all).size).toBe(all.length);
      expect([...all].sort()).toEqual(
        ['1.0.0', '1.0.1', '1.0.2', '1.0.3', '1.1.0', '1.1.1', '1.1.2'].sort(),
      );
      // ?cursor= does what the header does.
      const third = new SseClient(
        `/v1/jobs/${jobId}/logs?follow=true&cursor=${encodeURIComponent(lastId)}`,
        acmeKey,
      );
      await third.waitFor('the same chunks', () => third.logs().length === 4);
      expect(seqs(third)).toEqual(seqs(second));
      await third.close();
      // The job ends: the follower gets `end` and the stream closes.
      await setState(jobId, 'SUCCEEDED');
      await second.waitFor('the end', () => second.ended);
      expect(second.events[second.events.length - 1]).toMatchObject({ event: 'end' });
    } finally {
      await second.close();
    }
  });

  it('sends everything of a finished job, then end, and closes', async () => {
    const jobId = uniqueName('job');
    await createJob(jobId, { state: 'FAILED', nodes: 2, attempt: 1 });
    await store(
      aChunk(jobId, 1, 0, 0),
      aChunk(jobId, 1, 1, 0, { eof: true, exitCode: 3 }),
      aChunk(jobId, 1, 0, 1, { eof: true, exitCode: 0 }),
    );
    const client = new SseClient(`/v1/jobs/${jobId}/logs?follow=true`, acmeKey);
    await client.finished();
    expect(client.events.map((e) => e.event)).toEqual(['log', 'log', 'log', 'end']);
    expect(client.logs().find((l) => l.rank === 1)).toMatchObject({ eof: true, exitCode: 3 });
    expect(JSON.parse(client.events[3]!.data)).toEqual({ state: 'FAILED' });
  });

  it('ends open follows when the gateway shuts down, so it can', async () => {
    const other = await createGatewayApp({
      nc,
      subjects,
      pool,
      store: new PostgresEventStore(pool, eventRegistry),
      adminToken: 'admin',
      logger: false,
    });
    await other.listen(0, '127.0.0.1');
    const jobId = uniqueName('job');
    await createJob(jobId, { state: 'RUNNING', nodes: 1, attempt: 1 });
    await store(aChunk(jobId, 1, 0, 0));
    const client = new SseClient(
      `/v1/jobs/${jobId}/logs?follow=true`,
      acmeKey,
      {},
      await other.getUrl(),
    );
    await client.waitFor('the first chunk', () => client.logs().length === 1);
    await other.close();
    await client.finished();
    expect(client.ended).toBe(true);
  });
});
