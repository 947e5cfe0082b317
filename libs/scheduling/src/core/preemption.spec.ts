import { seededRandom } from '../sim/random';
import { planPreemption, type PreemptibleAllocation } from './preemption';
import { type CoreJob, type CoreNode } from './types';

const node = (nodeId: string, usedCpu = 0, pools = ['cpu']): CoreNode => ({
  nodeId,
  pools,
  labels: {},
  capacity: { cpu: 8, memoryMiB: 8_192, gpu: 0 },
  used: { cpu: usedCpu, memoryMiB: 0, gpu: 0 },
});
const running = (
  jobId: string,
  nodes: readonly string[],
  cpu: number,
  priority: number,
  startedAt = 0,
): PreemptibleAllocation => ({
  jobId,
  tenant: 't',
  pool: 'cpu',
  nodes,
  resources: { cpu, memoryMiB: 0, gpu: 0 },
  expectedEnd: null,
  startedAt,
  priority,
});
const job = (priority: number, cpu = 8, nodes = 1): CoreJob => ({
  tenant: 'u',
  jobId: 'urgent',
  pool: 'cpu',
  nodes,
  resources: { cpu, memoryMiB: 0, gpu: 0 },
  priority,
  enqueuedAt: 0,
  notBefore: null,
  expectedRuntimeSeconds: null,
});
const POLICY = { pools: new Set(['cpu']) };

/** Nodes whose `used` is exactly what the given allocations hold on them. */
const cluster = (ids: string[], allocations: PreemptibleAllocation[]): CoreNode[] =>
  ids.map((id) =>
    node(
      id,
      allocations.filter((a) => a.nodes.includes(id)).reduce((sum, a) => sum + a.resources.cpu, 0),
    ),
  );

describe('preemption (C6)', () => {
  it('evicts the lowest-priority job, never one of its own class or above', () => {
    const jobs = [running('low', ['a'], 8, 10), running('mid', ['b'], 8, 50)];
    expect(planPreemption(job(100), cluster(['a', 'b'], jobs), jobs, POLICY)).toEqual({
      jobId: 'urgent',
      victims: ['low'],
      nodes: ['a'],
    });
    const peers = [running('same', ['a'], 8, 100), running('above', ['b'], 8, 200)];
    expect(planPreemption(job(100), cluster(['a', 'b'], peers), peers, POLICY)).toBeNull();
  });

  it('evicts the fewest jobs, then the youngest', () => {
    const jobs = [
      running('small-1', ['a'], 4, 10, 1_000),
      running('small-2', ['a'], 4, 10, 2_000),
      running('big-old', ['b'], 8, 10, 500),
      running('big-young', ['c'], 8, 10, 3_000),
    ];
    expect(planPreemption(job(100), cluster(['a', 'b', 'c'], jobs), jobs, POLICY)).toEqual({
      jobId: 'urgent',
      victims: ['big-young'],
      nodes: ['c'],
    });
  });

  it('frees only what is missing: a half-free node needs one small victim', () => {
    const jobs = [running('x', ['a'], 2, 10, 1), running('y', ['a'], 2, 10, 2)];
    // a: 4 of 8 free; the job wants 6: evicting the youngest (y) alone is enough.
    expect(planPreemption(job(100, 6), cluster(['a'], jobs), jobs, POLICY)?.victims).toEqual(['y']);
  });

  it('frees a whole gang at once, and evicts a gang victim once', () => {
    const jobs = [running('gang', ['a', 'b'], 8, 10), running('solo', ['c'], 8, 20)];
    expect(planPreemption(job(100, 8, 2), cluster(['a', 'b', 'c'], jobs), jobs, POLICY)).toEqual({
      jobId: 'urgent',
      victims: ['gang'],
      nodes: ['a', 'b'],
    });
  });

  it('does nothing where the pool does not allow it, or when the job fits without it', () => {
    const jobs = [running('low', ['a'], 8, 10)];
    expect(planPreemption(job(100), cluster(['a'], jobs), jobs, { pools: new Set() })).toBeNull();
    expect(planPreemption(job(100), cluster(['a', 'b'], jobs), jobs, POLICY)).toBeNull();
    // Not enough even with every lower-priority job gone: nothing is evicted for nothing.
    expect(planPreemption(job(100, 8, 3), cluster(['a', 'b'], jobs), jobs, POLICY)).toBeNull();
  });

  it('never loops: along any chain of preemptions, priority strictly falls', () => {
    const random = seededRandom(42);
    for (let trial = 0; trial < 500; trial += 1) {
      const ids = ['a', 'b', 'c', 'd'];
      const jobs = ids.map((id, i) =>
        running(`r${i}`, [id], 1 + Math.floor(random() * 8), Math.floor(random() * 5) * 10),
      );
      const urgent = job(Math.floor(random() * 5) * 10, 1 + Math.floor(random() * 8));
      const plan = planPreemption(urgent, cluster(ids, jobs), jobs, POLICY);
      if (!plan) continue;
      for (const victim of plan.victims) {
        const evicted = jobs.find((j) => j.jobId === victim)!;
        expect(evicted.priority).toBeLessThan(urgent.priority);
        // The victim, requeued, facing the preemptor now running where it ran: never evicts it.
        const nowRunning = [
          ...jobs.filter((j) => !plan.victims.includes(j.jobId)),
          running('urgent', plan.nodes, urgent.resources.cpu, urgent.priority),
        ];
        const back = planPreemption(
          { ...urgent, jobId: victim, priority: evicted.priority, resources: evicted.resources },
          cluster(ids, nowRunning),
          nowRunning,
          POLICY,
        );
        expect(back?.victims ?? []).not.toContain('urgent');
      }
    }
  });
});
