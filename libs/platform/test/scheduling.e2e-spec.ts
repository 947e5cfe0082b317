import { Client } from 'pg';
import { eventually, type TestDatabase } from '@gantry/testing';
import { type GatewayClient, type Platform } from '../src';
import { SCORE_TERMS } from '@gantry/contracts';
import { startE2ePlatform, type E2ePlatform } from './e2e-platform';

/**
 * Issue 5 through the public API, on every service and two real agents: `explain` carries the
 * scheduler's reasons faithfully (C5), and an admin's cordon and drain, and a quarantine, keep
 * new work off a node while a drain lets running work finish (C9).
 */
let e2e: E2ePlatform;
let db: TestDatabase;
let platform: Platform;
let admin: GatewayClient;
let tenant: GatewayClient;
let other: GatewayClient;

const NODES = ['node-a', 'node-b'];
const TERMS = SCORE_TERMS;
type Terms = Record<(typeof TERMS)[number], number>;

interface Explained {
  readonly jobId: string;
  readonly state: string;
  readonly retained: boolean;
  readonly outcome?: 'placed' | 'waiting';
  readonly weights?: Terms;
  readonly candidates?: { nodeId: string; terms: Terms; total: number; tieBreak: number }[];
  readonly filtered?: { nodeId: string; filter: string; standing: string | null }[];
  readonly chosen?: string[];
  readonly queuePosition?: number;
  readonly why: string;
  readonly waitingFor?: { kind: string } | null;
}

interface NodeView {
  readonly id: string;
  readonly cordoned: boolean;
  readonly draining: boolean;
  readonly drained: boolean;
  readonly quarantined: boolean;
}

beforeAll(async () => {
  e2e = await startE2ePlatform(
    'sched_e2e',
    NODES.map((nodeId) => ({ nodeId, pools: ['cpu'], cpu: 2, memoryMiB: 2048 })),
  );
  ({ db, platform, tenant, admin } = e2e);
  other = admin.as(await admin.createTenant('globex', { cores: 64, concurrentJobs: 100 }));
  await eventually(async () => (await nodes()).length === 2, 'both agents in the pool');
});

afterAll(() => e2e?.stop());

const nodes = async (): Promise<NodeView[]> => {
  const reply = await tenant.call<{ pools: { name: string; nodes: NodeView[] }[] }>(
    'GET',
    '/v1/nodepools',
  );
  expect(reply.status).toBe(200);
  return reply.body.pools.find((p) => p.name === 'cpu')?.nodes ?? [];
};

const nodeShows = (id: string, want: Partial<NodeView>) =>
  eventually(
    async () => {
      const node = (await nodes()).find((n) => n.id === id);
      return node && Object.entries(want).every(([k, v]) => node[k as keyof NodeView] === v)
        ? node
        : undefined;
    },
    `${id} to show ${JSON.stringify(want)}`,
    30_000,
    () => platform.describe(),
  );

const explain = async (id: string, as = tenant) =>
  as.call<Explained>('GET', `/v1/jobs/${id}/explain`);

const submit = async (spec: Record<string, unknown>): Promise<string> => {
  const reply = await tenant.submit({ resources: { cpu: 1, memoryMiB: 128 }, ...spec });
  expect(reply.status).toBe(201);
  return reply.body.id;
};

const leasedNodes = async (id: string): Promise<string[]> => {
  const reply = await tenant.call<{ events: { type: string; data: Record<string, unknown> }[] }>(
    'GET',
    `/v1/jobs/${id}/events`,
  );
  return reply.body.events
    .filter((e) => e.type === 'JobLeased')
    .flatMap((e) => (e.data['nodes'] as { nodeId: string }[]).map((n) => n.nodeId));
};

const nodeCall = (id: string, verb: string, body?: unknown) =>
  admin.call<NodeView>('POST', `/v1/admin/nodes/${id}/${verb}`, body ? { body } : {});

/** A 2-node gang needs both nodes: while one is kept out, explain must say which and why. */
const gangKeptOffBy = async (nodeId: string, standing: string): Promise<string> => {
  const gang = await submit({ nodes: 2, command: ['true'] });
  await tenant.waitForJob(gang, (s) => s === 'QUEUED');
  const why = await eventually(async () => {
    const reply = await explain(gang);
    return reply.body.retained ? reply.body : undefined;
  }, `the gang explained while ${nodeId} is ${standing}`);
  expect(why).toMatchObject({ outcome: 'waiting', waitingFor: { kind: 'never-fits' } });
  expect(why.filtered).toEqual([{ nodeId, filter: 'health', standing }]);
  expect(why.state).toBe('QUEUED');
  return gang;
};

/** The node's stream: each standing change with the actor that made it. */
const standingHistory = async (nodeId: string): Promise<[string, string][]> => {
  const client = new Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ type: string; actor: string }>(
      `SELECT type, metadata->>'actor' AS actor FROM events
        WHERE stream_id = $1 AND type NOT IN ('NodeEnrolled', 'NodeLost')
        ORDER BY stream_version`,
      [`node-${nodeId}`],
    );
    return rows.map((r) => [r.type, r.actor]);
  } finally {
    await client.end();
  }
};

describe('GET /v1/jobs/{id}/explain', () => {
  it('names why a job too big for every node waits: each node filtered for capacity', async () => {
    const id = await submit({ resources: { cpu: 16, memoryMiB: 128 }, command: ['true'] });
    // The state comes from the job_summary projection: wait until it has caught up.
    await tenant.waitForJob(id, (s) => s === 'QUEUED');
    const answer = await eventually(
      async () => {
        const reply = await explain(id);
        return reply.status === 200 && reply.body.retained ? reply.body : undefined;
      },
      'an explanation of the waiting job',
      30_000,
      () => platform.describe(),
    );
    expect(answer).toMatchObject({
      jobId: id,
      state: 'QUEUED',
      outcome: 'waiting',
      waitingFor: { kind: 'never-fits', feasibleNodes: 0 },
      candidates: [],
      chosen: [],
    });
    expect(answer.filtered!.map((f) => [f.nodeId, f.filter])).toEqual(
      NODES.map((n) => [n, 'capacity']),
    );
    expect(answer.queuePosition).toBeGreaterThanOrEqual(1);
    // Another tenant's job is as missing as an unknown one.
    expect((await explain(id, other)).status).toBe(404);
    expect((await explain('job-does-not-exist')).status).toBe(404);
    await tenant.call('POST', `/v1/jobs/${id}/cancel`, { body: {} });
  });

  it("shows a placed job's scores by term; recomputing the winner from them picks its node", async () => {
    const id = await submit({ command: ['sleep', '30'] });
    await tenant.waitForJob(id, (s) => ['LEASED', 'STAGING', 'RUNNING'].includes(s));
    const reply = await explain(id);
    expect(reply.status).toBe(200);
    const answer = reply.body;
    expect(answer).toMatchObject({ jobId: id, retained: true, outcome: 'placed' });
    expect(answer.chosen).toEqual(await leasedNodes(id));
    expect(answer.candidates!.map((c) => c.nodeId).sort()).toEqual(NODES);
    const weights = answer.weights!;
    const recomputed = answer.candidates!.map((c) => ({
      ...c,
      total: TERMS.reduce((sum, term) => sum + weights[term] * c.terms[term], 0),
    }));
    for (const c of recomputed) {
      expect(c.total).toBeCloseTo(answer.candidates!.find((x) => x.nodeId === c.nodeId)!.total, 9);
    }
    const [winner] = [...recomputed].sort(
      (a, b) =>
        b.total - a.total ||
        b.tieBreak - a.tieBreak ||
        (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0),
    );
    expect([winner!.nodeId]).toEqual(answer.chosen);
    expect(answer.why.length).toBeGreaterThan(0);

    await tenant.call('POST', `/v1/jobs/${id}/cancel`, { body: {} });
    await tenant.waitForJob(id);
    const ended = await explain(id);
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({ jobId: id, state: 'CANCELLED', retained: false });
    expect(ended.body.why).toMatch(/no explanation retained/);
  });
});

describe('C9: cordon, drain and quarantine', () => {
  it('refuses the node routes without the admin token, and an unknown node with 404', async () => {
    expect((await tenant.call('POST', '/v1/admin/nodes/node-a/cordon')).status).toBe(401);
    expect((await nodeCall('node-zz', 'cordon')).status).toBe(404);
  });

  it('keeps new work off a cordoned node, and an uncordon lets it back', async () => {
    const cordoned = await nodeCall('node-a', 'cordon', { reason: 'kernel update' });
    expect(cordoned.status).toBe(200);
    expect(cordoned.body).toMatchObject({ id: 'node-a', cordoned: true, draining: false });
    // Again: nothing changes.
    expect((await nodeCall('node-a', 'cordon')).body).toMatchObject({ cordoned: true });
    await nodeShows('node-a', { cordoned: true });

    const ids = await Promise.all([1, 2, 3].map(() => submit({ command: ['true'] })));
    for (const id of ids) expect((await tenant.waitForJob(id)).state).toBe('SUCCEEDED');
    for (const id of ids) expect(await leasedNodes(id)).toEqual(['node-b']);
    const gang = await gangKeptOffBy('node-a', 'cordoned');

    expect((await nodeCall('node-a', 'uncordon')).body).toMatchObject({ cordoned: false });
    expect((await tenant.waitForJob(gang)).state).toBe('SUCCEEDED');
    expect((await leasedNodes(gang)).sort()).toEqual(NODES);
  });

  it('drains a node: running work finishes there, new work goes elsewhere', async () => {
    const running = await submit({ command: ['sh', '-c', 'sleep 4; echo done'] });
    await tenant.waitForJob(running, (s) => s === 'RUNNING');
    const [busy] = await leasedNodes(running);
    const spare = NODES.find((n) => n !== busy)!;
    const drained = await nodeCall(busy!, 'drain', { reason: 'retire' });
    expect(drained.body).toMatchObject({
      id: busy,
      cordoned: true,
      draining: true,
      drained: false,
    });
    await nodeShows(busy!, { draining: true });

    const later = await submit({ command: ['true'] });
    expect((await tenant.waitForJob(later)).state).toBe('SUCCEEDED');
    expect(await leasedNodes(later)).toEqual([spare]);
    const gang = await gangKeptOffBy(busy!, 'draining');
    // Not killed: it ran to its end on the draining node, and only then is the node drained.
    const finished = await tenant.waitForJob(running);
    expect(finished.state).toBe('SUCCEEDED');
    expect(await leasedNodes(running)).toEqual([busy]);
    await nodeShows(busy!, { draining: true, drained: true });

    expect((await nodeCall(busy!, 'uncordon')).body).toMatchObject({
      cordoned: false,
      draining: false,
      drained: false,
    });
    expect((await tenant.waitForJob(gang)).state).toBe('SUCCEEDED');
  });

  it('quarantines a node whose attempts keep failing, until an admin clears it', async () => {
    // Only node-a takes work while the failures happen, so they are all its attempts.
    await nodeCall('node-b', 'cordon');
    const failing = await Promise.all(
      [1, 2, 3].map(() => submit({ command: ['sh', '-c', 'exit 3'], retry: { maxAttempts: 1 } })),
    );
    for (const id of failing) expect((await tenant.waitForJob(id)).state).not.toBe('SUCCEEDED');
    await nodeShows('node-a', { quarantined: true });
    await nodeCall('node-b', 'uncordon');

    const after = await Promise.all([1, 2].map(() => submit({ command: ['true'] })));
    for (const id of after) expect((await tenant.waitForJob(id)).state).toBe('SUCCEEDED');
    for (const id of after) expect(await leasedNodes(id)).toEqual(['node-b']);

    const gang = await gangKeptOffBy('node-a', 'quarantined');

    const cleared = await nodeCall('node-a', 'clear');
    expect(cleared.body).toMatchObject({ id: 'node-a', quarantined: false });
    await nodeShows('node-a', { quarantined: false });
    // Back in service: the gang that needs it starts.
    expect((await tenant.waitForJob(gang)).state).toBe('SUCCEEDED');
    expect((await leasedNodes(gang)).sort()).toEqual(NODES);

    // Every change is on the node's stream with who made it (a drain in between if node-a was
    // the busy one above).
    const history = await standingHistory('node-a');
    expect(history.slice(0, 2)).toEqual([
      ['NodeCordoned', 'admin'],
      ['NodeUncordoned', 'admin'],
    ]);
    expect(history.slice(-2)).toEqual([
      ['NodeQuarantined', 'scheduler'],
      ['NodeQuarantineCleared', 'admin'],
    ]);
  });
});

describe('C7: estimated starts', () => {
  it('estimates a queued job from the expected end of what runs, and a new job of a shape per pool', async () => {
    const blocker = await submit({
      nodes: 2,
      resources: { cpu: 2, memoryMiB: 128 },
      expectedRuntimeSeconds: 600,
      command: ['sleep', '600'],
    });
    await tenant.waitForJob(blocker, (s) => s === 'RUNNING');
    const events = await tenant.call<{ events: { type: string; data: Record<string, unknown> }[] }>(
      'GET',
      `/v1/jobs/${blocker}/events`,
    );
    const leasedAt = Date.parse(
      String(events.body.events.find((e) => e.type === 'JobLeased')!.data['leasedAt']),
    );
    const expectedEnd = leasedAt + 600_000;
    // Within a few seconds: the scheduler counts from its own lease decision, the event from the
    // controller's record of it.
    const near = (iso: string | null | undefined): boolean =>
      typeof iso === 'string' && Math.abs(Date.parse(iso) - expectedEnd) < 5_000;

    const queued = await submit({ expectedRuntimeSeconds: 60, command: ['true'] });
    const job = await eventually(
      async () => {
        const found = await tenant.job(queued);
        return found.state === 'QUEUED' && found['estimatedStartAt'] ? found : undefined;
      },
      'an estimated start for the queued job',
      30_000,
      () => platform.describe(),
    );
    expect(near(job['estimatedStartAt'] as string)).toBe(true);

    const pools = async (query: string) =>
      tenant.call<{ pools: { name: string; estimatedStartAt?: string | null }[] }>(
        'GET',
        `/v1/nodepools?${query}`,
      );
    const small = await pools('cores=1&memoryMiB=128');
    expect(small.status).toBe(200);
    expect(near(small.body.pools.find((p) => p.name === 'cpu')?.estimatedStartAt)).toBe(true);
    const huge = await pools('cores=64&memoryMiB=128&nodes=1');
    expect(huge.body.pools.find((p) => p.name === 'cpu')?.estimatedStartAt).toBeNull();
    expect((await pools('cores=1')).status).toBe(400);
    // Without a shape, no estimate is asked for.
    expect((await pools('')).body.pools.find((p) => p.name === 'cpu')).not.toHaveProperty(
      'estimatedStartAt',
    );

    // The blocker ends early: the queued job starts, and the estimate made before stays beside
    // the actual start, for accuracy reports.
    await tenant.call('POST', `/v1/jobs/${blocker}/cancel`, { body: {} });
    expect((await tenant.waitForJob(queued)).state).toBe('SUCCEEDED');
    expect((await tenant.job(queued))['estimatedStartAt']).toBeNull();
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      // The scheduler records the actual start when it hears JobStarted: soon, not at once.
      const row = await eventually(async () => {
        const { rows } = await client.query<{ first: Date; started: Date | null }>(
          `SELECT first_estimated_start_at AS first, started_at AS started
             FROM scheduler_estimates WHERE job_id = $1`,
          [queued],
        );
        return rows[0]?.started ? rows[0] : undefined;
      }, 'the actual start beside the estimate');
      expect(near(row.first.toISOString())).toBe(true);
      expect(row.started!.getTime()).toBeLessThan(expectedEnd);
      // The report an admin reads: this job started before its first estimate (its blocker
      // was cancelled early).
      const accuracy = await admin.call<{ samples: number; early: number }>(
        'GET',
        '/v1/admin/estimates/accuracy',
      );
      expect(accuracy.status).toBe(200);
      expect(accuracy.body.samples).toBeGreaterThanOrEqual(1);
      expect(accuracy.body.early).toBeGreaterThanOrEqual(1);
    } finally {
      await client.end();
    }
  });
});
