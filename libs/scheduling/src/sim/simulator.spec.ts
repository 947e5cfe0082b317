import { job, node, res, T0 } from '../core/test-fixtures';
import { seededRandom } from './random';
import { simulate, type SimJob } from './simulator';

const MIN = 60_000;

const simJob = (
  jobId: string,
  arriveAt: number,
  actualRuntimeSeconds: number,
  overrides: Partial<SimJob> = {},
): SimJob => ({
  ...job(jobId, { enqueuedAt: arriveAt, expectedRuntimeSeconds: actualRuntimeSeconds }),
  arriveAt,
  actualRuntimeSeconds,
  ...overrides,
});

describe('simulate', () => {
  it('runs two gangs that together need more than the pool, one after the other (no deadlock)', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4'].map((id) => node(id));
    const jobs = [
      simJob('g1', T0, 600, { tenant: 'a', nodes: 3, resources: res(4, 0) }),
      simJob('g2', T0, 600, { tenant: 'b', nodes: 3, resources: res(4, 0) }),
    ];
    const result = simulate({ nodes, jobs, config: { seed: 1 }, start: T0, until: T0 + 60 * MIN });
    expect(result.violations).toEqual([]);
    expect([...result.finished.keys()].sort()).toEqual(['g1', 'g2']);
    const starts = [result.started.get('g1')!.at, result.started.get('g2')!.at].sort();
    expect(starts).toEqual([T0, T0 + 600_000]);
  });

  it('does not starve a big gang behind a stream of small jobs', () => {
    const nodes = Array.from({ length: 8 }, (_, i) => node(`n${i}`));
    const random = seededRandom(5);
    const jobs: SimJob[] = [];
    // Four tenants keep far more small work queued than the pool can run, for four hours.
    for (let i = 0; i < 4_000; i += 1) {
      const at = T0 + Math.floor((i * 3_600 * 4 * 1_000) / 4_000);
      jobs.push(
        simJob(`s${i}`, at, 60 + Math.floor(random() * 240), {
          tenant: `small-${i % 4}`,
          resources: res(1, 256),
        }),
      );
    }
    jobs.push(
      simJob('big', T0 + 10 * MIN, 300, { tenant: 'big', nodes: 8, resources: res(4, 1_024) }),
    );
    const result = simulate({
      nodes,
      jobs,
      config: { seed: 2 },
      start: T0,
      until: T0 + 5 * 3_600_000,
    });
    expect(result.violations).toEqual([]);
    const big = result.started.get('big');
    expect(big).toBeDefined();
    // It waits at most for the longest small job already running when it arrived (300 s).
    expect(big!.at - (T0 + 10 * MIN)).toBeLessThanOrEqual(300_000);
    // And the smalls kept running around it: backfill did not stop.
    expect(result.started.size).toBeGreaterThan(1_000);
  });

  it('gives three tenants weighted 1:1:2 resource-time within 5 % of their weights on a saturated pool', () => {
    const nodes = Array.from({ length: 10 }, (_, i) => node(`n${i}`, { capacity: res(4, 16_384) }));
    const random = seededRandom(11);
    const jobs: SimJob[] = [];
    for (const tenant of ['a', 'b', 'c']) {
      for (let i = 0; i < 3_000; i += 1) {
        const gang = random() < 0.1;
        jobs.push(
          simJob(`${tenant}-${i}`, T0, 30 + Math.floor(random() * 150), {
            tenant,
            nodes: gang ? 2 : 1,
            resources: res(1 + Math.floor(random() * 2), 1_024),
            priority: Math.floor(random() * 3),
          }),
        );
      }
    }
    const until = T0 + 3 * 3_600_000;
    const result = simulate({
      nodes,
      jobs,
      config: { seed: 3, tenantWeights: { a: 1, b: 1, c: 2 } },
      start: T0,
      until,
    });
    expect(result.violations).toEqual([]);
    // Every tenant still has a backlog at the end: the pool was saturated throughout.
    for (const tenant of ['a', 'b', 'c']) {
      expect(
        jobs.filter((j) => j.tenant === tenant && !result.started.has(j.jobId)).length,
      ).toBeGreaterThan(0);
    }
    const total = [...result.cpuTime.values()].reduce((a, b) => a + b, 0);
    // A saturated pool: at least 90 % of the cpu-time there was.
    expect(total).toBeGreaterThan(0.9 * 40 * (until - T0));
    const expected: Record<string, number> = { a: 0.25, b: 0.25, c: 0.5 };
    for (const tenant of ['a', 'b', 'c']) {
      const share = result.cpuTime.get(tenant)! / total;
      expect(Math.abs(share - expected[tenant]!) / expected[tenant]!).toBeLessThanOrEqual(0.05);
    }
  });

  it('wakes up for a job in retry backoff when nothing else happens', () => {
    const jobs = [simJob('retry', T0, 60, { notBefore: T0 + 90_000 })];
    const result = simulate({
      nodes: [node('n1')],
      jobs,
      config: { seed: 1 },
      start: T0,
      until: T0 + MIN * 10,
    });
    expect(result.started.get('retry')?.at).toBe(T0 + 90_000);
  });

  it('replays the same history from the same scenario', () => {
    const nodes = Array.from({ length: 6 }, (_, i) => node(`n${i}`));
    const random = seededRandom(9);
    const jobs = Array.from({ length: 300 }, (_, i) =>
      simJob(`j${i}`, T0 + i * 5_000, 20 + Math.floor(random() * 200), {
        tenant: `t${i % 5}`,
        nodes: 1 + Math.floor(random() * 3),
        resources: res(1 + Math.floor(random() * 3), 512),
      }),
    );
    const run = () =>
      simulate({ nodes, jobs, config: { seed: 4 }, start: T0, until: T0 + 24 * 3_600_000 });
    const first = run();
    expect(first.violations).toEqual([]);
    expect(first.finished.size).toBe(300);
    expect(run()).toEqual(first);
    expect(
      simulate({
        nodes: [...nodes].reverse(),
        jobs: [...jobs].reverse(),
        config: { seed: 4 },
        start: T0,
        until: T0 + 24 * 3_600_000,
      }),
    ).toEqual(first);
  });
});
