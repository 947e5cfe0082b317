import { randomUUID } from 'node:crypto';
import { type NatsConnection } from '@nats-io/transport-node';
import { ErrorCodes, type CommandEnvelope, type SubjectCatalogue } from '@gantry/contracts';
import {
  isLegalInState,
  isLegalTransition,
  stateAfterEvent,
  type JobStateName,
} from '@gantry/domain';
import { sendCommand } from '@gantry/messaging';
import { GatewayClient, type Platform } from '../src';
import { startE2ePlatform, type E2ePlatform } from './e2e-platform';

/**
 * Issue 3's lifecycle, end to end: every service and two agents as real processes on real
 * Postgres and NATS, driven only through the public REST API (and, for fencing, by replaying a
 * stale agent report on the bus, as a zombie agent would).
 */
let e2e: E2ePlatform;
let subjects: SubjectCatalogue;
let nc: NatsConnection;
let platform: Platform;
let tenant: GatewayClient;

const NODES = ['node-a', 'node-b'];

beforeAll(async () => {
  e2e = await startE2ePlatform(
    'e2e',
    NODES.map((nodeId) => ({ nodeId, pools: ['cpu'], cpu: 4, memoryMiB: 4096 })),
  );
  ({ subjects, nc, platform, tenant } = e2e);
});

afterAll(() => e2e?.stop());

interface JobEventView {
  readonly type: string;
  readonly version: number;
  readonly occurredAt: string;
  readonly data: Record<string, unknown>;
}

const eventsOf = async (jobId: string, client = tenant): Promise<JobEventView[]> => {
  const reply = await client.call<{ events: JobEventView[] }>('GET', `/v1/jobs/${jobId}/events`);
  expect(reply.status).toBe(200);
  return reply.body.events;
};

/** A history is complete and in order: versions 1..n, and every state change a legal one. */
const expectLegalHistory = (events: readonly JobEventView[]): void => {
  expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1));
  let state: JobStateName = 'NONE';
  for (const event of events) {
    const next = stateAfterEvent(event);
    if (next === undefined) {
      // A fact that leaves the state (outputs, progress, a rank's exit) has states it belongs in.
      expect({ in: state, event: event.type, legal: isLegalInState(state, event.type) }).toEqual({
        in: state,
        event: event.type,
        legal: true,
      });
      continue;
    }
    expect({ from: state, event: event.type, legal: isLegalTransition(state, next) }).toEqual({
      from: state,
      event: event.type,
      legal: true,
    });
    state = next;
  }
};

const logText = async (jobId: string): Promise<string> => {
  const reply = await tenant.call<string>('GET', `/v1/jobs/${jobId}/logs?tail=100000`);
  expect(reply.status).toBe(200);
  return reply.text;
};

const eventually = async <T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}\n${platform.describe()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

interface PoolView {
  readonly name: string;
  readonly nodesReady: number;
  readonly capacity: { cpu: number; memoryMiB: number };
  readonly used: { cpu: number };
  readonly queueDepth: number;
  readonly running: number;
  readonly nodes: { id: string; status: string }[];
}

const cpuPool = async (): Promise<PoolView | undefined> => {
  const reply = await tenant.call<{ pools: PoolView[] }>('GET', '/v1/nodepools');
  expect(reply.status).toBe(200);
  return reply.body.pools.find((pool) => pool.name === 'cpu');
};

describe('the job lifecycle on two agents', () => {
  it('shows the cpu pool with both agents, their capacity and nothing in use', async () => {
    const pool = await eventually('both agents in the pool', async () => {
      const found = await cpuPool();
      return found?.nodesReady === 2 ? found : undefined;
    });
    expect(pool.nodes.map((n) => [n.id, n.status])).toEqual(NODES.map((id) => [id, 'ready']));
    expect(pool.capacity).toEqual({ cpu: 8, memoryMiB: 8192, gpu: 0 });
    expect(pool.used.cpu).toBe(0);
    expect(pool.queueDepth).toBe(0);
    expect(
      (await new GatewayClient(platform.gatewayUrl, null).call('GET', '/v1/nodepools')).status,
    ).toBe(401);
  });

  it('runs 20 mixed single- and 2-node jobs to SUCCEEDED, with complete histories and logs', async () => {
    const LINES = 5;
    const specs = Array.from({ length: 20 }, (_, i) => ({
      name: `mixed-${i}`,
      nodes: i % 2 === 0 ? 2 : 1,
      resources: { cpu: 1, memoryMiB: 128 },
      command: [
        'sh',
        '-c',
        `for n in $(seq 1 ${LINES}); do echo "job ${i} rank $GANTRY_RANK/$GANTRY_WORLD_SIZE line $n"; done`,
      ],
    }));
    const ids = await Promise.all(
      specs.map(async (spec) => {
        const reply = await tenant.submit(spec);
        expect(reply.status).toBe(201);
        return reply.body.id;
      }),
    );

    const jobs = await Promise.all(ids.map((id) => tenant.waitForJob(id, undefined, 120_000)));
    expect(jobs.map((job) => job.state)).toEqual(ids.map(() => 'SUCCEEDED'));

    const nodesUsed = new Set<string>();
    for (const [i, id] of ids.entries()) {
      const events = await eventsOf(id);
      expectLegalHistory(events);
      const types = events.map((e) => e.type);
      expect(types).toEqual(
        expect.arrayContaining(['JobSubmitted', 'JobAdmitted', 'JobQueued', 'JobLeased']),
      );
      expect(types.at(-1)).toBe('JobSucceeded');
      const leased = events.find((e) => e.type === 'JobLeased')!;
      const assigned = leased.data['nodes'] as { nodeId: string; rank: number }[];
      expect(assigned).toHaveLength(specs[i]!.nodes);
      expect(new Set(assigned.map((n) => n.nodeId)).size).toBe(specs[i]!.nodes);
      assigned.forEach((n) => nodesUsed.add(n.nodeId));
      expect(types.filter((t) => t === 'RankExited')).toHaveLength(specs[i]!.nodes);

      const text = await logText(id);
      for (let rank = 0; rank < specs[i]!.nodes; rank += 1) {
        for (let n = 1; n <= LINES; n += 1) {
          expect(text).toContain(`job ${i} rank ${rank}/${specs[i]!.nodes} line ${n}`);
        }
      }
    }
    expect([...nodesUsed].sort()).toEqual(NODES);
  });

  it('cancels a running 2-node job: CANCELLED, and its processes are gone on both nodes', async () => {
    const reply = await tenant.submit({
      name: 'to-cancel',
      nodes: 2,
      resources: { cpu: 1, memoryMiB: 128 },
      command: ['sh', '-c', 'sleep 600 & echo "rank $GANTRY_RANK child $!"; wait'],
    });
    expect(reply.status).toBe(201);
    const jobId = reply.body.id;
    const pids = await eventually('both ranks to report their child pid', async () => {
      const found = [...(await logText(jobId)).matchAll(/rank (\d) child (\d+)/g)];
      return found.length === 2 ? found.map((m) => Number(m[2])) : undefined;
    });
    expect((await tenant.job(jobId)).state).toBe('RUNNING');
    expect(pids.every(isAlive)).toBe(true);
    const busy = await eventually('the pool to show the gang running', async () => {
      const pool = await cpuPool();
      return pool && pool.used.cpu === 2 && pool.running === 1 ? pool : undefined;
    });
    expect(busy.used.cpu).toBe(2);

    const cancel = await tenant.call('POST', `/v1/jobs/${jobId}/cancel`, {
      body: { reason: 'e2e' },
    });
    expect(cancel.status).toBe(200);
    const job = await tenant.waitForJob(jobId, undefined, 30_000);
    expect(job.state).toBe('CANCELLED');
    await eventually('the processes to be gone', async () =>
      pids.some(isAlive) ? undefined : true,
    );
    expectLegalHistory(await eventsOf(jobId));
  });

  it('detects a SIGKILLed agent within 10 s, runs the job again on the other node, and fences the dead attempt', async () => {
    const reply = await tenant.submit({
      name: 'survivor',
      nodes: 1,
      resources: { cpu: 1, memoryMiB: 128 },
      command: ['sh', '-c', 'echo "attempt $GANTRY_ATTEMPT"; sleep 4; echo finished'],
    });
    expect(reply.status).toBe(201);
    const jobId = reply.body.id;
    await eventually('the first attempt to run', async () =>
      (await logText(jobId)).includes('attempt 1') ? true : undefined,
    );
    const first = await tenant.job(jobId);
    expect(first.state).toBe('RUNNING');
    const victim = (first['assignedNodes'] as { nodeId: string }[])[0]!.nodeId;
    const killedAt = Date.now();
    await platform.agent(victim).kill();

    const job = await tenant.waitForJob(jobId, undefined, 60_000);
    expect(job.state).toBe('SUCCEEDED');
    const events = await eventsOf(jobId);
    expectLegalHistory(events);
    const lost = events.find((e) => e.type === 'AttemptFailed' && e.data['nodeLost'] === victim);
    expect(lost).toBeDefined();
    // Two missed 5 s heartbeats after the last one it sent, which came before the kill; the
    // detector looks every 250 ms, and the controller records it a round trip later.
    expect(Date.parse(lost!.occurredAt) - killedAt).toBeLessThanOrEqual(10_500);
    const leases = events.filter((e) => e.type === 'JobLeased');
    expect(leases).toHaveLength(2);
    const second = leases[1]!.data['nodes'] as { nodeId: string }[];
    expect(second.map((n) => n.nodeId)).not.toContain(victim);
    expect(await logText(jobId)).toContain('finished');

    // The dead agent's attempt, replayed as a zombie would: its epoch is stale, nothing changes.
    const staleEpoch = leases[0]!.data['leaseEpoch'] as number;
    const zombie: CommandEnvelope = {
      id: randomUUID(),
      type: 'ReportAttemptExit',
      schemaVersion: 1,
      data: { jobId, leaseEpoch: staleEpoch, rank: 0, exitCode: 1, retryJitter: 0.5 },
      metadata: {
        tenant: 'acme',
        occurredAt: new Date().toISOString(),
        causationId: null,
        correlationId: randomUUID(),
        actor: `agent:${victim}`,
      },
    };
    await expect(
      sendCommand(nc, subjects, 'controller', 'report-attempt-exit', zombie, { timeoutMs: 10_000 }),
    ).rejects.toMatchObject({ code: ErrorCodes.LEASE_STALE_EPOCH });
    expect(await eventsOf(jobId)).toHaveLength(events.length);

    await platform.restartAgent(victim);
  });

  it("gives back every job's usage once, however it ended: usage is zero when nothing runs", async () => {
    const failing = await Promise.all([
      // The retry budget spent: DEAD_LETTER.
      tenant.submit({
        command: ['sh', '-c', 'exit 7'],
        resources: { cpu: 1, memoryMiB: 64 },
        retry: { maxAttempts: 1 },
      }),
      // A code the spec says not to retry: FAILED at once.
      tenant.submit({
        command: ['sh', '-c', 'exit 9'],
        resources: { cpu: 1, memoryMiB: 64 },
        retry: { nonRetryableExitCodes: [9] },
      }),
    ]);
    const ended = await Promise.all(
      failing.map((reply) => tenant.waitForJob(reply.body.id, undefined, 60_000)),
    );
    expect(ended.map((job) => job.state)).toEqual(['DEAD_LETTER', 'FAILED']);
    // Successes, a cancel, a killed agent's job and these two failures all ran above.
    const usage = await eventually('the usage to return to zero', async () => {
      const reply = await tenant.call<{ dimensions: Record<string, { used: number }> }>(
        'GET',
        '/v1/usage',
      );
      const used = Object.values(reply.body.dimensions).map((d) => d.used);
      return used.every((u) => u === 0) ? reply.body : undefined;
    });
    expect(usage.dimensions['concurrentJobs']!.used).toBe(0);
  });
});

interface SpendView {
  readonly spent: number;
  readonly accruing: number;
  readonly committed: number;
  readonly remaining: number | null;
  readonly paused: { reason: string } | null;
  readonly burndown: { day: string; spent: number; cumulative: number }[];
}

describe('budgets: cost accrues, the tenant is paused at its budget, and service comes back (B3)', () => {
  // One core-second costs one unit: runtimes of seconds make costs a test can reason about.
  const PRICES = { coreHour: 3_600, memoryGiBHour: 0, gpuHour: 0 };
  let admin: GatewayClient;
  let thrifty: GatewayClient;

  const spend = async (): Promise<SpendView> => {
    const reply = await thrifty.call<{ spend: SpendView }>('GET', '/v1/usage');
    expect(reply.status).toBe(200);
    return reply.body.spend;
  };
  const sleeper = (seconds: number, expected: number, extra: Record<string, unknown> = {}) => ({
    command: ['sleep', String(seconds)],
    resources: { cpu: 1, memoryMiB: 64 },
    expectedRuntimeSeconds: expected,
    ...extra,
  });
  /** What a job's history says it ran, priced at one unit per core-second of its one core. */
  const billedFromHistory = async (jobId: string): Promise<number> => {
    let total = 0;
    let startedAt: number | null = null;
    for (const event of await eventsOf(jobId, thrifty)) {
      const at = Date.parse(event.occurredAt);
      if (event.type === 'JobStarted') startedAt = at;
      else if (startedAt !== null && /Succeeded|Failed|Cancelled|DeadLettered/.test(event.type)) {
        total += (at - startedAt) / 1_000;
        startedAt = null;
      }
    }
    return total;
  };

  beforeAll(async () => {
    admin = new GatewayClient(platform.gatewayUrl, platform.adminToken);
    thrifty = admin.as(await admin.createTenant('thrifty', { cores: 64, concurrentJobs: 100 }));
    const priced = await admin.call('PUT', '/v1/admin/pools/cpu/prices', { body: PRICES });
    expect(priced.status).toBe(200);
    const budget = await admin.call('PUT', '/v1/admin/tenants/thrifty/budget', {
      body: { monthly: 8, onExhausted: 'finish' },
    });
    expect(budget.body).toEqual({ id: 'thrifty', budget: { monthly: 8, onExhausted: 'finish' } });
  });

  it('refuses bad prices and budgets, and non-admins, changing nothing', async () => {
    expect(
      (await admin.call('PUT', '/v1/admin/pools/cpu/prices', { body: { coreHour: -1 } })).status,
    ).toBe(400);
    expect(
      (await admin.call('PUT', '/v1/admin/tenants/thrifty/budget', { body: { monthly: 0 } }))
        .status,
    ).toBe(400);
    expect(
      (await thrifty.call('PUT', '/v1/admin/tenants/thrifty/budget', { body: { monthly: 1e6 } }))
        .status,
    ).toBe(401);
    expect((await spend()).remaining).toBe(8);
  });

  it('accrues, auto-pauses at the budget, refuses and holds while paused, and resumes when raised', async () => {
    // A job for a pool no node serves waits in the queue the whole time (and, unpriced, is free).
    const waiting = await thrifty.submit(sleeper(1, 1, { pool: 'nowhere' }));
    expect(waiting.status).toBe(201);
    const first = await thrifty.submit(sleeper(3, 3));
    expect((await thrifty.waitForJob(first.body.id)).state).toBe('SUCCEEDED');
    const afterFirst = await eventually('the first job to be billed', async () => {
      const s = await spend();
      return s.spent > 0 ? s : undefined;
    });
    expect(afterFirst.spent).toBeCloseTo(await billedFromHistory(first.body.id), 2);
    expect(afterFirst.burndown.at(-1)!.cumulative).toBeCloseTo(afterFirst.spent, 6);

    // Spent (about 3) + a projected 6 would pass 8: refused, dry or not.
    const big = sleeper(6, 6);
    const dry = await thrifty.call<{
      admit: boolean;
      estimatedStartAt: string | null;
      cost: { projectedCost: number };
      refusal: { details: Record<string, unknown> };
    }>('POST', '/v1/jobs?dryRun=true', { body: big });
    expect(dry.body.admit).toBe(false);
    expect(dry.body.cost.projectedCost).toBe(6);
    // Two idle nodes: it would start about now (C7), whatever the budget says of it.
    expect(Date.parse(dry.body.estimatedStartAt!)).toBeLessThan(Date.now() + 60_000);
    expect(dry.body.refusal.details).toMatchObject({ dimension: 'budget', request: 6, limit: 8 });
    const refused = await thrifty.submit(big);
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ code: 'QUOTA_EXCEEDED', dimension: 'budget', limit: 8 });

    // Projected at 2 it fits; it really runs 6 s, and the spend reaches the budget while it runs.
    const overrun = await thrifty.submit(sleeper(6, 2));
    expect(overrun.status).toBe(201);
    await eventually('the overrun to accrue while it runs', async () =>
      (await spend()).accruing > 0 ? true : undefined,
    );
    const paused = await eventually('the auto-pause', async () => {
      const s = await spend();
      return s.paused ? s : undefined;
    });
    expect(paused.paused!.reason).toBe('budget');
    await eventually('the budget alert', async () => {
      const reply = await admin.call<{ alerts: { kind: string; tenant: string }[] }>(
        'GET',
        '/v1/admin/alerts',
      );
      expect(reply.status).toBe(200);
      return reply.body.alerts.some((a) => a.kind === 'budget-exhausted' && a.tenant === 'thrifty')
        ? true
        : undefined;
    });
    const whilePaused = await thrifty.submit(sleeper(1, 1));
    expect(whilePaused.status).toBe(422);
    expect(whilePaused.body).toMatchObject({ code: 'TENANT_PAUSED', reason: 'budget' });
    expect(whilePaused.text).toMatch(/monthly budget/);
    const held = await thrifty.waitForJob(waiting.body.id, (s) => s === 'HELD', 15_000);
    expect(held['reason']).toMatchObject({ message: 'tenant paused' });
    // 'finish': the running job is left to end.
    expect((await thrifty.waitForJob(overrun.body.id)).state).toBe('SUCCEEDED');

    // Raising the budget past the spend resumes: the held job goes back, new jobs are taken.
    expect(
      (await admin.call('PUT', '/v1/admin/tenants/thrifty/budget', { body: { monthly: 100 } }))
        .status,
    ).toBe(200);
    await thrifty.waitForJob(waiting.body.id, (s) => s === 'QUEUED', 15_000);
    const resumed = await eventually('the resume', async () => {
      const s = await spend();
      return s.paused === null ? s : undefined;
    });
    expect(resumed.remaining).not.toBeNull();
    const next = await thrifty.submit(sleeper(0, 1));
    expect(next.status).toBe(201);
    expect((await thrifty.waitForJob(next.body.id)).state).toBe('SUCCEEDED');

    // Every ended job billed once: the month's spend is the sum of what each one ran.
    const billed =
      (await billedFromHistory(first.body.id)) +
      (await billedFromHistory(overrun.body.id)) +
      (await billedFromHistory(next.body.id));
    const settled = await eventually('every end to be billed', async () => {
      const s = await spend();
      return Math.abs(s.spent - billed) < 0.01 ? s : undefined;
    });
    expect(settled.spent).toBeGreaterThan(8);
    expect(
      (await thrifty.call('POST', `/v1/jobs/${waiting.body.id}/cancel`, { body: {} })).status,
    ).toBeLessThan(300);
  });

  it("pauses and resumes by hand; a tenant that chose 'stop' has its running jobs stopped", async () => {
    expect(
      (
        await admin.call('PUT', '/v1/admin/tenants/thrifty/budget', {
          body: { monthly: 100, onExhausted: 'stop' },
        })
      ).status,
    ).toBe(200);
    const running = await thrifty.submit(sleeper(60, 1));
    await thrifty.waitForJob(running.body.id, (s) => s === 'RUNNING', 30_000);
    expect((await admin.call('POST', '/v1/admin/tenants/thrifty/pause')).status).toBe(200);
    const refused = await thrifty.submit(sleeper(0, 1));
    expect(refused.body).toMatchObject({ code: 'TENANT_PAUSED', reason: 'admin' });
    expect((await thrifty.waitForJob(running.body.id, undefined, 20_000)).state).toBe('CANCELLED');
    expect((await admin.call('POST', '/v1/admin/tenants/thrifty/resume')).status).toBe(200);
    expect((await thrifty.submit(sleeper(0, 1))).status).toBe(201);
  });
});
