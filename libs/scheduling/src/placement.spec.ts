import {
  coordinatorPort,
  planPlacements,
  type QueuedJob,
  type Resources,
  type SchedulableNode,
} from './placement';

const NOW = Date.parse('2026-11-23T12:00:00.000Z');

const aNode = (nodeId: string, overrides: Partial<SchedulableNode> = {}): SchedulableNode => ({
  nodeId,
  pools: ['cpu'],
  labels: {},
  capacity: { cpu: 4, memoryMiB: 8_192, gpu: 0 },
  used: { cpu: 0, memoryMiB: 0, gpu: 0 },
  liveness: 'live',
  ...overrides,
});

const needs = (cpu: number, memoryMiB = 256, gpu = 0): Resources => ({ cpu, memoryMiB, gpu });

const aJob = (jobId: string, overrides: Partial<QueuedJob> = {}): QueuedJob => ({
  tenant: 'acme',
  jobId,
  pool: 'cpu',
  nodes: 1,
  resources: needs(1),
  priority: 100,
  queuedAt: NOW - 1_000,
  notBefore: null,
  ...overrides,
});

const placedIds = (pass: ReturnType<typeof planPlacements>) => pass.placed.map((p) => p.jobId);

/** Sums what every decision puts on each node, to check nothing is over-committed. */
const loadPerNode = (
  pass: ReturnType<typeof planPlacements>,
  queue: readonly QueuedJob[],
): Map<string, Resources> => {
  const byId = new Map(queue.map((job) => [job.jobId, job]));
  const load = new Map<string, Resources>();
  for (const decision of pass.placed) {
    const job = byId.get(decision.jobId)!;
    for (const { nodeId } of decision.nodes) {
      const was = load.get(nodeId) ?? needs(0, 0);
      load.set(nodeId, {
        cpu: was.cpu + job.resources.cpu,
        memoryMiB: was.memoryMiB + job.resources.memoryMiB,
        gpu: was.gpu + job.resources.gpu,
      });
    }
  }
  return load;
};

describe('planPlacements', () => {
  it('places a gang on N distinct nodes with ranks 0..N-1', () => {
    const pass = planPlacements({
      nodes: [aNode('n1'), aNode('n2'), aNode('n3')],
      queue: [aJob('gang', { nodes: 2 })],
      now: NOW,
    });
    expect(pass.placed).toHaveLength(1);
    const nodes = pass.placed[0]!.nodes;
    expect(nodes.map((n) => n.rank)).toEqual([0, 1]);
    expect(new Set(nodes.map((n) => n.nodeId)).size).toBe(2);
  });

  it('places a gang all or none: one free node is not enough for two ranks', () => {
    const pass = planPlacements({
      nodes: [aNode('n1'), aNode('n2', { used: needs(4, 0) })],
      queue: [aJob('gang', { nodes: 2 })],
      now: NOW,
    });
    expect(pass.placed).toEqual([]);
    expect(pass.unplaced).toEqual([
      { tenant: 'acme', jobId: 'gang', reason: 'insufficient-nodes' },
    ]);
  });

  it('never puts two ranks of one gang on one node, however big the node', () => {
    const pass = planPlacements({
      nodes: [aNode('big', { capacity: { cpu: 64, memoryMiB: 65_536, gpu: 0 } })],
      queue: [aJob('gang', { nodes: 2 })],
      now: NOW,
    });
    expect(pass.placed).toEqual([]);
  });

  it.each([
    ['cpu', needs(3), needs(2)],
    ['memory', needs(1, 6_000), needs(1, 3_000)],
    ['gpu', needs(1, 256, 1), needs(1, 256, 1)],
  ])('never over-commits a node on %s', (_dimension, first, second) => {
    const node = aNode('n1', { capacity: { cpu: 4, memoryMiB: 8_192, gpu: 1 } });
    const queue = [aJob('a', { resources: first }), aJob('b', { resources: second })];
    const pass = planPlacements({ nodes: [node], queue, now: NOW });
    expect(placedIds(pass)).toEqual(['a']);
    const load = loadPerNode(pass, queue).get('n1')!;
    expect(load.cpu).toBeLessThanOrEqual(4);
    expect(load.memoryMiB).toBeLessThanOrEqual(8_192);
    expect(load.gpu).toBeLessThanOrEqual(1);
  });

  it('counts what live leases already hold', () => {
    const pass = planPlacements({
      nodes: [aNode('n1', { used: needs(3.5, 0) })],
      queue: [aJob('a', { resources: needs(1) })],
      now: NOW,
    });
    expect(pass.placed).toEqual([]);
  });

  it('fills a node exactly with fractional cores', () => {
    const queue = [0.1, 0.2, 0.3, 0.4].map((cpu, i) => aJob(`j${i}`, { resources: needs(cpu) }));
    const pass = planPlacements({
      nodes: [aNode('n1', { capacity: { cpu: 1, memoryMiB: 8_192, gpu: 0 } })],
      queue,
      now: NOW,
    });
    expect(pass.placed).toHaveLength(4);
  });

  it('only uses nodes of the job pool, and no lost node', () => {
    const pass = planPlacements({
      nodes: [
        aNode('gpu-1', { pools: ['gpu'] }),
        aNode('lost-1', { liveness: 'lost' }),
        aNode('cpu-1', { pools: ['gpu', 'cpu'] }),
      ],
      queue: [aJob('a'), aJob('b', { pool: 'himem' })],
      now: NOW,
    });
    expect(pass.placed).toEqual([
      { tenant: 'acme', jobId: 'a', nodes: [{ nodeId: 'cpu-1', rank: 0 }] },
    ]);
    expect(pass.unplaced).toEqual([{ tenant: 'acme', jobId: 'b', reason: 'no-nodes-in-pool' }]);
  });

  it('places by priority, then age, then job id', () => {
    const queue = [
      aJob('young-low', { priority: 1, queuedAt: NOW - 10 }),
      aJob('old-low', { priority: 1, queuedAt: NOW - 100 }),
      aJob('high', { priority: 500, queuedAt: NOW }),
      aJob('b-tie', { priority: 1, queuedAt: NOW - 100 }),
    ];
    // Room for three: the youngest low-priority job is the one left out.
    const pass = planPlacements({
      nodes: [aNode('n1', { capacity: { cpu: 3, memoryMiB: 8_192, gpu: 0 } })],
      queue,
      now: NOW,
    });
    expect(placedIds(pass)).toEqual(['high', 'b-tie', 'old-low']);
    expect(pass.unplaced.map((u) => u.jobId)).toEqual(['young-low']);
  });

  it('lets smaller jobs behind a job that does not fit go first (backfill)', () => {
    const pass = planPlacements({
      nodes: [aNode('n1', { capacity: { cpu: 2, memoryMiB: 8_192, gpu: 0 } })],
      queue: [aJob('big', { priority: 900, resources: needs(8) }), aJob('small')],
      now: NOW,
    });
    expect(placedIds(pass)).toEqual(['small']);
  });

  it('skips a job whose backoff is not over, and places it once it is', () => {
    const waiting = aJob('retry', { notBefore: NOW + 1 });
    const before = planPlacements({ nodes: [aNode('n1')], queue: [waiting], now: NOW });
    expect(before.unplaced).toEqual([{ tenant: 'acme', jobId: 'retry', reason: 'not-before' }]);
    const after = planPlacements({ nodes: [aNode('n1')], queue: [waiting], now: NOW + 1 });
    expect(placedIds(after)).toEqual(['retry']);
  });

  it('decides the same whatever order nodes and jobs come in', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4'].map((id, i) =>
      aNode(id, { capacity: { cpu: 2 + (i % 2), memoryMiB: 4_096, gpu: 0 } }),
    );
    const queue = Array.from({ length: 12 }, (_, i) =>
      aJob(`j${i}`, { nodes: 1 + (i % 3), priority: i % 2, queuedAt: NOW - (i % 4) }),
    );
    const first = planPlacements({ nodes, queue, now: NOW });
    const shuffled = planPlacements({
      nodes: [...nodes].reverse(),
      queue: [...queue].reverse(),
      now: NOW,
    });
    expect(shuffled).toEqual(first);
    expect(first.placed.length).toBeGreaterThan(0);
    for (const [, load] of loadPerNode(first, queue)) expect(load.cpu).toBeLessThanOrEqual(3);
  });
});

describe('coordinatorPort', () => {
  it('is the same for one job and stays in 29500-30499', () => {
    expect(coordinatorPort('job-1')).toBe(coordinatorPort('job-1'));
    for (const id of ['a', 'job-1', 'x'.repeat(128), '0']) {
      expect(coordinatorPort(id)).toBeGreaterThanOrEqual(29_500);
      expect(coordinatorPort(id)).toBeLessThanOrEqual(30_499);
    }
    expect(coordinatorPort('job-1')).not.toBe(coordinatorPort('job-2'));
  });
});
