import { schedulePass } from '@gantry/scheduling';
import { type JobView } from './job-view';
import { placementSnapshot, type NodeFacts, type PlacementState } from './placement-input';
import { choosePreemptions } from './preemption-choice';
import { aQueuedJob, aSpec, T0 } from './test-fixtures';

const spec = (priority: number, pool = 'batch') =>
  aSpec({ priority, pool, resources: { cpu: 2, memoryMiB: 256, gpu: 0 } });

const job = (jobId: string, priority: number, overrides: Partial<JobView> = {}): JobView =>
  aQueuedJob(jobId, { spec: spec(priority, overrides.spec?.pool), ...overrides });

const node = (nodeId: string, pool = 'batch'): NodeFacts => ({
  nodeId,
  pools: [pool],
  labels: {},
  capacity: { cpu: 2, memoryMiB: 4_096, gpu: 0 },
  status: 'ready',
});

/** Two full nodes of `pool`, each running one low-priority job, started a minute apart. */
const fullPool = (pool = 'batch') => {
  const jobs = new Map<string, JobView>();
  const leased = new Set<string>();
  ['low-a', 'low-b'].forEach((jobId, i) => {
    const epoch = 1;
    jobs.set(
      jobId,
      job(jobId, 10, {
        spec: spec(10, pool),
        phase: 'leased',
        attempt: 1,
        leaseEpoch: epoch,
        lease: {
          epoch,
          attempt: 1,
          nodes: [{ nodeId: `n${i}`, rank: 0 }],
          leasedAt: T0 + i * 60_000,
        },
      }),
    );
    leased.add(jobId);
  });
  return { jobs, leased, nodes: [node('n0', pool), node('n1', pool)] };
};

const choose = (
  cluster: ReturnType<typeof fullPool>,
  queued: JobView[],
  pools = new Set(['batch']),
  busyPools = new Set<string>(),
) => {
  for (const q of queued) cluster.jobs.set(q.jobId, q);
  const state: PlacementState = {
    nodes: cluster.nodes,
    jobs: cluster.jobs,
    queued: queued.map((q) => q.jobId),
    leased: cluster.leased,
    inFlight: new Map(),
  };
  const snapshot = placementSnapshot(state, {
    now: T0 + 120_000,
    seed: 1,
    maxDecisions: 64,
    explainLimit: 100,
  });
  const pass = schedulePass(snapshot);
  return choosePreemptions({ snapshot, pass, jobs: cluster.jobs, pools, busyPools });
};

describe('choosePreemptions (C6)', () => {
  it('evicts the youngest low-priority job for the highest-priority job left waiting', () => {
    const plans = choose(fullPool(), [job('high', 50), job('mid', 30)]);
    expect(plans).toEqual([{ jobId: 'high', victims: ['low-b'], nodes: ['n1'] }]);
  });

  it('plans nothing outside the preemption pools, nor in a pool whose eviction is under way', () => {
    expect(choose(fullPool(), [job('high', 50)], new Set())).toEqual([]);
    expect(choose(fullPool(), [job('high', 50)], new Set(['gpu']))).toEqual([]);
    expect(choose(fullPool(), [job('high', 50)], new Set(['batch']), new Set(['batch']))).toEqual(
      [],
    );
  });

  it('never evicts an attempt already stopping, nor for a job of the same class', () => {
    const cluster = fullPool();
    for (const id of ['low-a', 'low-b'])
      cluster.jobs.set(id, { ...cluster.jobs.get(id)!, preemptRequested: true });
    expect(choose(cluster, [job('high', 50)])).toEqual([]);
    expect(choose(fullPool(), [job('peer', 10)])).toEqual([]);
  });

  it('leaves a job in its retry backoff waiting', () => {
    expect(choose(fullPool(), [job('high', 50, { notBefore: T0 + 600_000 })])).toEqual([]);
  });
});
