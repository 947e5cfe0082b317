import fc from 'fast-check';
import { affinityKey, type AffinityTable } from './affinity';
import {
  compareCandidates,
  PlacementCore,
  schedulePass,
  totalScore,
  type SnapshotInput,
} from './core';
import { job, node, res, seeded, T0 } from './test-fixtures';
import {
  type CandidateScore,
  type CoreConfig,
  type CoreJob,
  type CoreNode,
  type RunningAllocation,
} from './types';

const config = { seed: 7 };

const shuffle = <T>(items: readonly T[], random: () => number): T[] => {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
};

/** A random but reproducible cluster with running work and a mixed queue. */
const scenario = (seed: number, nodeCount = 12, jobCount = 40): SnapshotInput => {
  const random = seeded(seed);
  const nodes: CoreNode[] = [];
  for (let i = 0; i < nodeCount; i += 1) {
    nodes.push(
      node(`n${String(i).padStart(2, '0')}`, {
        pools: i % 3 === 0 ? ['cpu', 'gpu'] : ['cpu'],
        labels: { zone: i % 2 === 0 ? 'a' : 'b' },
        capacity: res(8, 16_384, i % 3 === 0 ? 2 : 0),
        health: 0.5 + random() / 2,
        // Some cheaper capacity, so the cost term is in every explanation the tests check.
        costFactor: i % 4 === 0 ? 0.3 : 1,
        heldInputs: random() < 0.3 ? ['file-1'] : [],
        cordoned: random() < 0.05,
      }),
    );
  }
  const running: RunningAllocation[] = [];
  const used = new Map<string, number>();
  for (let i = 0; i < nodeCount; i += 1) {
    if (random() < 0.6) {
      const cpu = 1 + Math.floor(random() * 6);
      const id = nodes[i]!.nodeId;
      used.set(id, cpu);
      running.push({
        jobId: `run-${i}`,
        tenant: `t${i % 3}`,
        pool: 'cpu',
        nodes: [id],
        resources: res(cpu, 1_024),
        startedAt: T0 - 60_000,
        expectedEnd: random() < 0.2 ? null : T0 + Math.floor(random() * 600) * 1_000,
      });
    }
  }
  const withUse = nodes.map((n) => ({
    ...n,
    used: res(used.get(n.nodeId) ?? 0, used.has(n.nodeId) ? 1_024 : 0),
  }));
  const jobs: CoreJob[] = [];
  for (let i = 0; i < jobCount; i += 1) {
    const gang = random() < 0.2;
    const gpu = random() < 0.15;
    jobs.push(
      job(`j${String(i).padStart(3, '0')}`, {
        tenant: `t${Math.floor(random() * 3)}`,
        pool: gpu ? 'gpu' : 'cpu',
        nodes: gang ? 2 + Math.floor(random() * 4) : 1,
        resources: res(
          1 + Math.floor(random() * 4),
          512 + Math.floor(random() * 4) * 1_024,
          gpu ? 1 : 0,
        ),
        priority: Math.floor(random() * 3) * 10,
        enqueuedAt: T0 - Math.floor(random() * 3_600) * 1_000,
        expectedRuntimeSeconds: random() < 0.2 ? null : 30 + Math.floor(random() * 900),
        inputs: random() < 0.3 ? ['file-1'] : [],
        labels: random() < 0.5 ? ['train'] : [],
        nodeSelector: random() < 0.1 ? { zone: 'a' } : undefined,
        notBefore: random() < 0.05 ? T0 + 10_000 : null,
      }),
    );
  }
  const affinity: AffinityTable = new Map([[affinityKey('n01', 'train'), { value: 0.8, at: T0 }]]);
  return {
    nodes: withUse,
    jobs,
    running,
    now: T0,
    config: { seed, tenantWeights: { t0: 1, t1: 1, t2: 2 }, poolPolicies: { gpu: 'pack' } },
    affinity,
    options: { explain: 'all' },
  };
};

describe('schedulePass: determinism', () => {
  it('decides the same twice, and whatever order the inputs come in', () => {
    for (let seed = 1; seed <= 20; seed += 1) {
      const input = scenario(seed);
      const first = schedulePass(input);
      expect(schedulePass(input)).toEqual(first);
      const random = seeded(seed * 31);
      const shuffled = schedulePass({
        ...input,
        nodes: shuffle(input.nodes, random),
        jobs: shuffle(input.jobs, random),
        running: shuffle(input.running, random),
      });
      expect(shuffled).toEqual(first);
      expect(first.decisions.length).toBeGreaterThan(0);
    }
  });

  it('decides the same with and without explaining', () => {
    for (let seed = 200; seed <= 260; seed += 1) {
      const input = scenario(seed, 10, 60);
      const explained = schedulePass(input);
      const fast = schedulePass({ ...input, options: {} });
      expect(fast.decisions).toEqual(explained.decisions);
      expect(fast.reservations).toEqual(explained.reservations);
      expect(fast.explanations).toEqual([]);
    }
  });

  it('changes only tie-breaks with the seed', () => {
    const nodes = ['a', 'b', 'c', 'd'].map((id) => node(id));
    const jobs = [job('j1')];
    const picks = new Set<string>();
    for (let seed = 0; seed < 16; seed += 1) {
      const pass = schedulePass({ nodes, jobs, running: [], now: T0, config: { seed } });
      picks.add(pass.decisions[0]!.nodes[0]!.nodeId);
    }
    expect(picks.size).toBeGreaterThan(1);
  });
});

describe('schedulePass: the cost term (C5)', () => {
  it('prefers the cheaper of two otherwise equal nodes, and says so by term', () => {
    const nodes = [node('list', { costFactor: 1 }), node('spot', { costFactor: 0.3 })];
    const pass = schedulePass({
      nodes,
      jobs: [job('j1')],
      running: [],
      now: T0,
      config,
      options: { explain: 'all' },
    });
    expect(pass.decisions[0]!.nodes.map((n) => n.nodeId)).toEqual(['spot']);
    const [spot, list] = pass.explanations[0]!.candidates;
    expect(spot!.terms.cost).toBeCloseTo(1 / 1.3, 9);
    expect(list!.terms.cost).toBe(0.5);
    expect(spot!.total - list!.total).toBeCloseTo(1 / 1.3 - 0.5, 9);
  });
});

describe('schedulePass: gangs', () => {
  const shape = fc.record({
    nodes: fc.array(
      fc.record({
        cpu: fc.integer({ min: 1, max: 8 }),
        used: fc.integer({ min: 0, max: 8 }),
        lost: fc.boolean(),
      }),
      { minLength: 1, maxLength: 10 },
    ),
    jobs: fc.array(
      fc.record({
        n: fc.integer({ min: 1, max: 6 }),
        cpu: fc.integer({ min: 1, max: 4 }),
        tenant: fc.constantFrom('a', 'b', 'c'),
        priority: fc.integer({ min: 0, max: 3 }),
        runtime: fc.option(fc.integer({ min: 1, max: 1_000 })),
      }),
      { minLength: 1, maxLength: 25 },
    ),
  });

  it('places every gang whole, on distinct nodes of its pool, never over-committing (property)', () => {
    fc.assert(
      fc.property(shape, fc.integer(), (s, seed) => {
        const nodes = s.nodes.map((n, i) =>
          node(`n${i}`, {
            capacity: res(n.cpu, 8_192),
            used: res(Math.min(n.used, n.cpu), 0),
            lost: n.lost,
          }),
        );
        const jobs = s.jobs.map((j, i) =>
          job(`j${i}`, {
            tenant: j.tenant,
            nodes: j.n,
            resources: res(j.cpu, 256),
            priority: j.priority,
            expectedRuntimeSeconds: j.runtime,
          }),
        );
        const pass = schedulePass({ nodes, jobs, running: [], now: T0, config: { seed } });
        const load = new Map(nodes.map((n) => [n.nodeId, n.used.cpu]));
        for (const decision of pass.decisions) {
          const j = jobs.find((x) => x.jobId === decision.jobId)!;
          const ids = decision.nodes.map((r) => r.nodeId);
          expect(ids).toHaveLength(j.nodes);
          expect(new Set(ids).size).toBe(j.nodes);
          expect(decision.nodes.map((r) => r.rank)).toEqual(ids.map((_, i) => i));
          for (const id of ids) {
            const n = nodes.find((x) => x.nodeId === id)!;
            expect(n.lost).toBe(false);
            load.set(id, load.get(id)! + j.resources.cpu);
            expect(load.get(id)!).toBeLessThanOrEqual(n.capacity.cpu);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reserves the earliest nodes for a head-of-line gang that cannot start', () => {
    const nodes = ['n1', 'n2', 'n3'].map((id) => node(id, { used: res(4, 0) }));
    const running: RunningAllocation[] = [
      {
        jobId: 'r1',
        tenant: 'x',
        pool: 'cpu',
        nodes: ['n1'],
        resources: res(4, 0),
        startedAt: T0,
        expectedEnd: T0 + 300_000,
      },
      {
        jobId: 'r2',
        tenant: 'x',
        pool: 'cpu',
        nodes: ['n2'],
        resources: res(4, 0),
        startedAt: T0,
        expectedEnd: T0 + 100_000,
      },
      {
        jobId: 'r3',
        tenant: 'x',
        pool: 'cpu',
        nodes: ['n3'],
        resources: res(4, 0),
        startedAt: T0,
        expectedEnd: null,
      },
    ];
    const pass = schedulePass({
      nodes,
      running,
      jobs: [job('gang', { nodes: 2, resources: res(4, 0) })],
      now: T0,
      config,
      options: { explain: 'all' },
    });
    expect(pass.decisions).toEqual([]);
    expect(pass.reservations).toEqual([
      { tenant: 'acme', jobId: 'gang', pool: 'cpu', startsAt: T0 + 300_000, nodes: ['n1', 'n2'] },
    ]);
    expect(pass.explanations[0]!.waitingFor).toEqual({
      kind: 'reservation',
      startsAt: T0 + 300_000,
      nodes: ['n1', 'n2'],
    });
  });

  it('backfills only work that ends before the reservation, or that the reservation does not need', () => {
    const nodes = ['n1', 'n2'].map((id) => node(id, { capacity: res(8, 8_192), used: res(6, 0) }));
    const running: RunningAllocation[] = ['n1', 'n2'].map((id) => ({
      jobId: `r-${id}`,
      tenant: 'x',
      pool: 'cpu',
      nodes: [id],
      resources: res(6, 0),
      startedAt: T0,
      expectedEnd: T0 + 600_000,
    }));
    const pass = schedulePass({
      nodes,
      running,
      jobs: [
        job('gang', { nodes: 2, resources: res(7, 0), priority: 10 }),
        job('short', { tenant: 'b', resources: res(2, 0), expectedRuntimeSeconds: 300 }),
        job('long', { tenant: 'c', resources: res(2, 0), expectedRuntimeSeconds: 3_000 }),
        job('tiny-long', { tenant: 'd', resources: res(1, 0), expectedRuntimeSeconds: 3_000 }),
      ],
      now: T0,
      config,
      options: { explain: 'all' },
    });
    expect(pass.reservations.map((r) => [r.jobId, r.startsAt])).toEqual([['gang', T0 + 600_000]]);
    const placed = pass.decisions.map((d) => d.jobId).sort();
    // short ends before the reservation; tiny-long fits in the 1 cpu the gang leaves free; long fits neither.
    expect(placed).toEqual(['short', 'tiny-long']);
    const long = pass.explanations.find((e) => e.jobId === 'long')!;
    expect(long.waitingFor).toEqual({
      kind: 'capacity',
      behind: { jobId: 'gang', startsAt: T0 + 600_000 },
    });
    expect(long.filtered.map((f) => f.filter).sort()).toEqual(['reservation', 'resources']);
  });

  it('never delays the head-of-line reservation by backfilling (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
        const input = scenario(seed, 8, 30);
        const head = job('head', {
          tenant: 'a-head',
          nodes: 6,
          resources: res(6, 2_048),
          priority: 1_000,
          enqueuedAt: T0 - 10 * 3_600_000,
        });
        const nodes = input.nodes.map((n) => ({ ...n, cordoned: false }));
        const alone = schedulePass({ ...input, nodes, jobs: [head], options: {} });
        fc.pre(alone.decisions.length === 0 && alone.reservations.length === 1);
        const core = new PlacementCore({ ...input.config, tenantWeights: undefined });
        for (const n of nodes) core.upsertNode(n);
        for (const r of input.running) core.track(r);
        // The head's tenant has no use and sorts first, so fair share considers it first.
        core.enqueue(head);
        for (const j of input.jobs) core.enqueue(j);
        const pass = core.schedule(T0);
        const reservation = pass.reservations.find((r) => r.jobId === 'head')!;
        expect(reservation.startsAt).toBe(alone.reservations[0]!.startsAt);
        for (const nodeId of reservation.nodes) {
          const free = core.freeAt(nodeId, reservation.startsAt, T0);
          expect(free.cpu).toBeGreaterThanOrEqual(head.resources.cpu - 1e-9);
          expect(free.memoryMiB).toBeGreaterThanOrEqual(head.resources.memoryMiB);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('holds nothing for a gang that can never fit its pool, and says so', () => {
    const pass = schedulePass({
      nodes: [node('n1'), node('n2')],
      running: [],
      jobs: [job('huge', { nodes: 3 }), job('small')],
      now: T0,
      config,
      options: { explain: 'all' },
    });
    expect(pass.decisions.map((d) => d.jobId)).toEqual(['small']);
    expect(pass.reservations).toEqual([]);
    const huge = pass.explanations.find((e) => e.jobId === 'huge')!;
    expect(huge.waitingFor).toEqual({ kind: 'never-fits', feasibleNodes: 2 });
  });
});

describe('schedulePass: fair share and aging', () => {
  const busy = (tenant: string, cpu: number, id: string): RunningAllocation => ({
    jobId: id,
    tenant,
    pool: 'cpu',
    nodes: ['n1'],
    resources: res(cpu, 0),
    startedAt: T0,
    expectedEnd: T0 + 60_000,
  });

  it('serves the tenant with the lowest weighted dominant share first', () => {
    const nodes = [
      node('n1', { capacity: res(16, 65_536), used: res(6, 0) }),
      node('n2', { capacity: res(16, 65_536) }),
    ];
    const running = [busy('heavy', 4, 'r1'), busy('light', 2, 'r2')];
    const jobs = [job('h1', { tenant: 'heavy', priority: 99 }), job('l1', { tenant: 'light' })];
    const order = (weights: Record<string, number>) =>
      schedulePass({
        nodes,
        running,
        jobs,
        now: T0,
        config: { seed: 1, tenantWeights: weights },
      }).decisions.map((d) => d.jobId);
    expect(order({})).toEqual(['l1', 'h1']);
    // Weight 4 makes heavy's 4 cpus count as 1: below light's 2.
    expect(order({ heavy: 4 })).toEqual(['h1', 'l1']);
  });

  it('takes memory as the dominant resource when it is the scarcer one', () => {
    const nodes = [
      node('n1', { capacity: res(100, 1_000), used: res(11, 500) }),
      node('n2', { capacity: res(100, 1_000) }),
    ];
    const running = [
      { ...busy('cpuhog', 10, 'r1'), resources: res(10, 0) },
      { ...busy('memhog', 1, 'r2'), resources: res(1, 500) },
    ];
    const jobs = [
      job('c', { tenant: 'cpuhog', resources: res(1, 10) }),
      job('m', { tenant: 'memhog', resources: res(1, 10) }),
    ];
    const pass = schedulePass({ nodes, running, jobs, now: T0, config });
    expect(pass.decisions.map((d) => d.jobId)).toEqual(['c', 'm']);
  });

  it('ages: an old job overtakes newer higher-priority work at 1 point per minute', () => {
    const nodes = [node('n1', { capacity: res(1, 8_192) })];
    const jobs = (waitedMinutes: number) => [
      job('old', { priority: 0, enqueuedAt: T0 - waitedMinutes * 60_000 }),
      job('new', { priority: 100, enqueuedAt: T0 }),
    ];
    const first = (waited: number) =>
      schedulePass({ nodes, jobs: jobs(waited), running: [], now: T0, config }).decisions[0]!.jobId;
    expect(first(99)).toBe('new');
    expect(first(101)).toBe('old');
  });

  it('skips a job in retry backoff and explains it', () => {
    const pass = schedulePass({
      nodes: [node('n1')],
      jobs: [job('retry', { notBefore: T0 + 5_000 })],
      running: [],
      now: T0,
      config,
      options: { explain: 'all' },
    });
    expect(pass.decisions).toEqual([]);
    expect(pass.explanations[0]!.waitingFor).toEqual({ kind: 'backoff', until: T0 + 5_000 });
  });
});

describe('schedulePass: filters and scoring', () => {
  it('filters by health, labels, capacity and free resources, and says which filter', () => {
    const pass = schedulePass({
      nodes: [
        node('lost', { lost: true }),
        node('cordoned', { cordoned: true }),
        node('quarantined', { quarantined: true }),
        node('zone-b', { labels: { zone: 'b' } }),
        node('small', { capacity: res(1, 8_192), labels: { zone: 'a' } }),
        node('busy', { used: res(3, 0), labels: { zone: 'a' } }),
        node('other-pool', { pools: ['gpu'] }),
      ],
      jobs: [job('j', { resources: res(2), nodeSelector: { zone: 'a' } })],
      running: [],
      now: T0,
      config,
      options: { explain: 'all' },
    });
    const explanation = pass.explanations[0]!;
    expect(explanation.outcome).toBe('waiting');
    expect(Object.fromEntries(explanation.filtered.map((f) => [f.nodeId, f.filter]))).toEqual({
      lost: 'health',
      cordoned: 'health',
      quarantined: 'health',
      'zone-b': 'labels',
      small: 'capacity',
      busy: 'resources',
    });
    expect(explanation.outsidePool).toBe(1);
    expect(explanation.queuePosition).toBe(1);
  });

  it('packs or spreads by pool policy', () => {
    const nodes = [node('empty'), node('half', { used: res(2, 0) })];
    const pick = (policy: 'pack' | 'spread') =>
      schedulePass({
        nodes,
        jobs: [job('j')],
        running: [],
        now: T0,
        config: { seed: 3, poolPolicies: { cpu: policy }, weights: { load: 0 } },
      }).decisions[0]!.nodes[0]!.nodeId;
    expect(pick('pack')).toBe('half');
    expect(pick('spread')).toBe('empty');
  });

  it('prefers the node that holds the inputs (F6) and the one with learned affinity', () => {
    const nodes = [node('a'), node('b', { heldInputs: ['file-x'] }), node('c')];
    const local = schedulePass({
      nodes,
      jobs: [job('j', { inputs: ['file-x'] })],
      running: [],
      now: T0,
      config,
    });
    expect(local.decisions[0]!.nodes[0]!.nodeId).toBe('b');
    const affinity: AffinityTable = new Map([
      [affinityKey('c', 'etl'), { value: 0.6, at: T0 }],
      [affinityKey('b', 'etl'), { value: -0.6, at: T0 }],
    ]);
    const learned = schedulePass({
      nodes,
      jobs: [job('j', { labels: ['etl'] })],
      running: [],
      now: T0,
      config,
      affinity,
    });
    expect(learned.decisions[0]!.nodes[0]!.nodeId).toBe('c');
  });

  it('prefers healthy nodes', () => {
    const nodes = [node('sick', { health: 0.2 }), node('well', { health: 1 })];
    const pass = schedulePass({ nodes, jobs: [job('j')], running: [], now: T0, config });
    expect(pass.decisions[0]!.nodes[0]!.nodeId).toBe('well');
  });

  it('explains truly: recomputing the scores from the explanation picks the same nodes', () => {
    let checked = 0;
    for (let seed = 100; seed < 140; seed += 1) {
      const pass = schedulePass(scenario(seed));
      for (const explanation of pass.explanations) {
        if (explanation.outcome !== 'placed') continue;
        const decision = pass.decisions.find((d) => d.jobId === explanation.jobId)!;
        const recomputed: CandidateScore[] = explanation.candidates.map((c) => ({
          ...c,
          total: totalScore(c.terms, explanation.weights),
        }));
        for (const c of recomputed) {
          expect(c.total).toBeCloseTo(
            explanation.candidates.find((x) => x.nodeId === c.nodeId)!.total,
            12,
          );
        }
        const winners = [...recomputed].sort(compareCandidates).slice(0, decision.nodes.length);
        expect(winners.map((c) => c.nodeId)).toEqual(decision.nodes.map((n) => n.nodeId));
        expect(explanation.chosen).toEqual(decision.nodes.map((n) => n.nodeId));
        expect(explanation.why.length).toBeGreaterThan(0);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('explains every placement with explainPlaced, the same as explaining it outright', () => {
    for (let seed = 300; seed < 320; seed += 1) {
      const input = scenario(seed, 10, 60);
      const all = schedulePass(input);
      const placedOnly = schedulePass({ ...input, options: { explainPlaced: true } });
      expect(placedOnly.decisions).toEqual(all.decisions);
      const placed = all.explanations.filter((e) => e.outcome === 'placed');
      expect(placedOnly.explanations).toEqual(placed);
      expect(placedOnly.explanations.map((e) => e.jobId)).toEqual(
        all.decisions.map((d) => d.jobId),
      );
    }
  });

  it('counts an explained job into its place in the queue as sorting the whole queue does', () => {
    let checked = 0;
    for (let seed = 400; seed < 440; seed += 1) {
      const input = scenario(seed, 10, 80);
      const random = seeded(seed);
      // Explaining all sorts the queue; a few named jobs and the placements are counted one by one.
      const sorted = schedulePass(input);
      const asked = new Set(input.jobs.filter(() => random() < 0.2).map((j) => j.jobId));
      const counted = schedulePass({
        ...input,
        options: { explain: asked, explainPlaced: true, maxDecisions: 1 + (seed % 7) },
      });
      const places = new Map(sorted.explanations.map((e) => [e.jobId, e.queuePosition]));
      for (const e of counted.explanations) {
        expect([e.jobId, e.queuePosition]).toEqual([e.jobId, places.get(e.jobId)]);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(200);
  });

  it('explains only the jobs asked for, and those not reached', () => {
    const nodes = [node('n1', { capacity: res(2, 8_192) })];
    const jobs = [job('a', { enqueuedAt: T0 - 2 }), job('b', { enqueuedAt: T0 - 1 })];
    const pass = schedulePass({
      nodes,
      jobs,
      running: [],
      now: T0,
      config,
      options: { explain: new Set(['b']), maxDecisions: 1 },
    });
    expect(pass.decisions.map((d) => d.jobId)).toEqual(['a']);
    expect(pass.explanations.map((e) => [e.jobId, e.waitingFor?.kind, e.queuePosition])).toEqual([
      ['b', 'not-considered', 2],
    ]);
  });
});

describe('PlacementCore: input checks and state', () => {
  it('refuses bad input with a clear error and changes nothing', () => {
    const core = new PlacementCore(config);
    core.upsertNode(node('n1'));
    core.enqueue(job('a'));
    expect(() => core.enqueue(job('a'))).toThrow(/already known/);
    expect(() => core.enqueue(job('z', { nodes: 0 }))).toThrow(/gang is 1 or more/);
    expect(core.queueDepth).toBe(1);
    expect(() => new PlacementCore({ seed: 1, tenantWeights: { x: 0 } })).toThrow(/must be > 0/);
    expect(() =>
      schedulePass({ nodes: [node('n1'), node('n1')], jobs: [], running: [], now: T0, config }),
    ).toThrow(/appears twice/);
  });

  it('frees resources on release and forgets a dequeued job', () => {
    const core = new PlacementCore(config);
    core.upsertNode(node('n1', { capacity: res(1, 8_192) }));
    core.enqueue(job('a'));
    core.enqueue(job('b'));
    core.enqueue(job('c'));
    expect(core.schedule(T0).decisions.map((d) => d.jobId)).toEqual(['a']);
    expect(core.dequeue('b')).toBe(true);
    expect(core.schedule(T0).decisions).toEqual([]);
    core.release('a');
    expect(core.schedule(T0).decisions.map((d) => d.jobId)).toEqual(['c']);
    expect(core.runningJobs()).toEqual(['c']);
  });

  it('passes over a full pool as a fresh core would once the small jobs have left the queue', () => {
    // The small job places and leaves the queue; the next pass's smallest need is 2 cpu again, so
    // the full pool is passed over in backfill: the job in backoff there is not looked at.
    const jobs = [
      job('small', { resources: res(1), priority: 50 }),
      job('big', { resources: res(3), priority: 40 }),
      job('head', { resources: res(3), priority: 30 }),
      job('later', { resources: res(2), priority: 0, notBefore: T0 + 60_000 }),
    ];
    const kept = new PlacementCore(config);
    kept.upsertNode(node('n1', { capacity: res(4, 8_192) }));
    jobs.slice(0, 1).forEach((j) => kept.enqueue(j));
    expect(kept.schedule(T0).decisions.map((d) => d.jobId)).toEqual(['small']);
    kept.release('small');
    jobs.slice(1).forEach((j) => kept.enqueue(j));
    const fresh = schedulePass({
      nodes: [node('n1', { capacity: res(4, 8_192) })],
      jobs: jobs.slice(1),
      running: [],
      now: T0,
      config,
    });
    const again = kept.schedule(T0);
    expect(fresh.decisions.map((d) => d.jobId)).toEqual(['big']);
    expect(again).toEqual(fresh);
    expect(again.considered).toBe(2);
    expect(again.wakeAt).toBeNull();
  });
});

describe('schedulePass: runtimes the reservation counts on', () => {
  const full = (id: string, expectedEnd: number | null, startedAt = T0): RunningAllocation => ({
    jobId: `r-${id}`,
    tenant: 'x',
    pool: 'cpu',
    nodes: [id],
    resources: res(4, 0),
    startedAt,
    expectedEnd,
  });
  const reserveFor = (running: RunningAllocation[], config: CoreConfig = { seed: 1 }) =>
    schedulePass({
      nodes: running.map((r) => node(r.nodes[0]!, { used: res(4, 0) })),
      running,
      jobs: [job('gang', { nodes: 1, resources: res(4, 0) })],
      now: T0,
      config,
    }).reservations[0]!.startsAt;

  it('takes an unknown runtime as the default from the start (3600 s unless configured)', () => {
    expect(reserveFor([full('n1', null, T0 - 600_000)])).toBe(T0 + 3_000_000);
    expect(reserveFor([full('n1', null)], { seed: 1, defaultRuntimeSeconds: 60 })).toBe(
      T0 + 60_000,
    );
  });

  it('takes overdue work to end a grace period (60 s) from now, after work due sooner', () => {
    expect(reserveFor([full('n1', T0 - 5_000)])).toBe(T0 + 60_000);
    expect(reserveFor([full('n1', T0 - 5_000), full('n2', T0 + 30_000)])).toBe(T0 + 30_000);
    // On one node: half is overdue, half is due in 30 s; a half-node job can start in 30 s.
    const half = (id: string, expectedEnd: number): RunningAllocation => ({
      ...full('n1', expectedEnd),
      jobId: id,
      resources: res(2, 0),
    });
    const pass = schedulePass({
      nodes: [node('n1', { used: res(4, 0) })],
      running: [half('late', T0 - 5_000), half('soon', T0 + 30_000)],
      jobs: [job('j', { resources: res(2, 0) })],
      now: T0,
      config,
    });
    expect(pass.reservations[0]!.startsAt).toBe(T0 + 30_000);
  });
});
