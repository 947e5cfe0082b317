import { schedulePass } from '@gantry/scheduling';
import { type JobView } from './job-view';
import {
  costFactorOf,
  placementSnapshot,
  runningAllocations,
  waitingExplanations,
  type InFlightLease,
  type NodeFacts,
  type PlacementState,
} from './placement-input';
import { aQueuedJob, aSpec as spec, T0 } from './test-fixtures';

const queuedJob = (
  jobId: string,
  tenant: string,
  queuedAt: number,
  overrides: Partial<JobView> = {},
): JobView => aQueuedJob(jobId, { tenant, queuedAt, ...overrides });

const node = (nodeId: string, cpu: number, status: NodeFacts['status'] = 'ready'): NodeFacts => ({
  nodeId,
  pools: ['cpu'],
  labels: {},
  capacity: { cpu, memoryMiB: 4_096, gpu: 0 },
  status,
});

/** The engine's bookkeeping, reduced: jobs, which are queued, which are leased, what is in flight. */
class Cluster {
  readonly jobs = new Map<string, JobView>();
  readonly queued = new Set<string>();
  readonly leased = new Set<string>();
  readonly inFlight = new Map<string, InFlightLease>();

  constructor(readonly nodes: NodeFacts[]) {}

  queue(job: JobView): void {
    this.jobs.set(job.jobId, job);
    this.queued.add(job.jobId);
  }

  state(): PlacementState {
    return {
      nodes: this.nodes,
      jobs: this.jobs,
      queued: this.queued,
      leased: this.leased,
      inFlight: this.inFlight,
    };
  }

  /** One pass; what it places becomes a live lease, as the controller's JobLeased would make it. */
  pass(now: number, maxDecisions = 64): string[] {
    const result = schedulePass(
      placementSnapshot(this.state(), { now, seed: 1, maxDecisions, explainLimit: 100 }),
    );
    for (const decision of result.decisions) {
      const job = this.jobs.get(decision.jobId)!;
      this.jobs.set(job.jobId, {
        ...job,
        phase: 'leased',
        leaseEpoch: 1,
        attempt: 1,
        lease: { epoch: 1, attempt: 1, nodes: decision.nodes, leasedAt: now },
      });
      this.queued.delete(job.jobId);
      this.leased.add(job.jobId);
    }
    return result.decisions.map((d) => d.jobId);
  }

  finish(jobId: string): void {
    this.jobs.delete(jobId);
    this.leased.delete(jobId);
  }
}

describe('placementSnapshot: fair share in the scheduler', () => {
  it("places the other tenant's one job in the next pass, not after the first tenant's whole queue", () => {
    // One node with room for two jobs; acme queued four jobs well before zeta queued one.
    const cluster = new Cluster([node('n1', 2)]);
    for (let i = 0; i < 4; i += 1) cluster.queue(queuedJob(`acme-${i}`, 'acme', T0 + i * 1_000));
    cluster.queue(queuedJob('zeta-0', 'zeta', T0 + 60_000));

    // Room for one more job at a time: the node holds one running acme job.
    expect(cluster.pass(T0 + 61_000, 1)).toEqual(['acme-0']);
    // Priority then age alone would take acme-1 (older); fair share takes zeta's job, whose tenant
    // has nothing running.
    expect(cluster.pass(T0 + 62_000)).toEqual(['zeta-0']);
    // Then acme again, once there is room.
    cluster.finish('acme-0');
    expect(cluster.pass(T0 + 63_000)).toEqual(['acme-1']);
  });
});

describe('placementSnapshot: the mapping', () => {
  it('takes expected runtimes, retry backoff and lost nodes from what the engine holds', () => {
    const cluster = new Cluster([node('n1', 4), node('n2', 4, 'lost')]);
    cluster.queue(
      queuedJob('j-backoff', 'acme', T0, { notBefore: T0 + 30_000, attempt: 1, leaseEpoch: 1 }),
    );
    cluster.queue(
      queuedJob('j-known', 'acme', T0, { spec: spec({ expectedRuntimeSeconds: 120 }) }),
    );
    const running = queuedJob('j-run', 'zeta', T0, {
      phase: 'leased',
      spec: spec({ expectedRuntimeSeconds: 600, resources: { cpu: 2, memoryMiB: 512 } }),
      lease: { epoch: 1, attempt: 1, nodes: [{ nodeId: 'n1', rank: 0 }], leasedAt: T0 + 5_000 },
    });
    cluster.jobs.set(running.jobId, running);
    cluster.leased.add(running.jobId);

    const input = placementSnapshot(cluster.state(), {
      now: T0 + 10_000,
      seed: 3,
      maxDecisions: 8,
      explainLimit: 10,
    });
    expect(input.config).toEqual({ seed: 3, tenantWeights: { acme: 1, zeta: 1 } });
    expect(input.nodes.map((n) => [n.nodeId, n.lost, n.used.cpu])).toEqual([
      ['n1', false, 2],
      ['n2', true, 0],
    ]);
    expect(input.running).toEqual([
      {
        jobId: 'j-run',
        tenant: 'zeta',
        pool: 'cpu',
        nodes: ['n1'],
        resources: { cpu: 2, memoryMiB: 512, gpu: 0 },
        startedAt: T0 + 5_000,
        expectedEnd: T0 + 5_000 + 600_000,
      },
    ]);
    const byId = new Map(input.jobs.map((j) => [j.jobId, j]));
    expect(byId.get('j-known')).toMatchObject({ expectedRuntimeSeconds: 120, notBefore: null });
    expect(byId.get('j-backoff')).toMatchObject({
      expectedRuntimeSeconds: null,
      notBefore: T0 + 30_000,
    });

    const pass = schedulePass(input);
    // The lost node gets nothing; the job in backoff waits and says why.
    expect(pass.decisions).toEqual([
      expect.objectContaining({ jobId: 'j-known', nodes: [{ nodeId: 'n1', rank: 0 }] }),
    ]);
    const waiting = waitingExplanations(pass, 10);
    expect([...waiting.keys()]).toEqual(['j-backoff']);
    expect(waiting.get('j-backoff')!.waitingFor).toEqual({ kind: 'backoff', until: T0 + 30_000 });
  });

  it('counts a lease once when its JobLeased event beat the lease reply', () => {
    const cluster = new Cluster([node('n1', 4)]);
    const job = queuedJob('j1', 'acme', T0, {
      phase: 'leased',
      lease: { epoch: 1, attempt: 1, nodes: [{ nodeId: 'n1', rank: 0 }], leasedAt: T0 },
    });
    cluster.jobs.set('j1', job);
    cluster.leased.add('j1');
    cluster.inFlight.set('j1', {
      tenant: 'acme',
      jobId: 'j1',
      nodes: [{ nodeId: 'n1', rank: 0 }],
      at: T0,
    });
    expect(runningAllocations(cluster.state()).map((r) => r.jobId)).toEqual(['j1']);
    const input = placementSnapshot(cluster.state(), {
      now: T0,
      seed: 1,
      maxDecisions: 8,
      explainLimit: 10,
    });
    expect(input.nodes[0]!.used.cpu).toBe(1);
  });

  it('explains at most the limit, front of the queue first', () => {
    const cluster = new Cluster([node('n1', 1)]);
    for (let i = 0; i < 5; i += 1) cluster.queue(queuedJob(`j${i}`, 'acme', T0 + i));
    const input = placementSnapshot(cluster.state(), {
      now: T0 + 10,
      seed: 1,
      maxDecisions: 8,
      explainLimit: 3,
    });
    expect([...(input.options!.explain as ReadonlySet<string>)]).toEqual(['j0', 'j1', 'j2']);
    const pass = schedulePass(input);
    expect(pass.decisions.map((d) => d.jobId)).toEqual(['j0']);
    expect([...waitingExplanations(pass, 10).keys()].sort()).toEqual(['j1', 'j2']);
    expect(waitingExplanations(pass, 1).size).toBe(1);
  });
});

describe('the cost-factor label (C5)', () => {
  it('reads a non-negative number, and takes anything else as list price', () => {
    expect(costFactorOf({ 'cost-factor': '0.3' })).toBe(0.3);
    expect(costFactorOf({ 'cost-factor': '0' })).toBe(0);
    expect(costFactorOf({})).toBe(1);
    expect(costFactorOf({ 'cost-factor': 'cheap' })).toBe(1);
    expect(costFactorOf({ 'cost-factor': '-2' })).toBe(1);
  });
});
