import { schedulePass, seededRandom, type PassResult } from '@gantry/scheduling';
import {
  IncrementalPlacement,
  ObservedMap,
  ObservedSet,
  type LivePlacementState,
} from './incremental-placement';
import { type JobView } from './job-view';
import { placementSnapshot, type InFlightLease, type NodeFacts } from './placement-input';
import { aQueuedJob as queuedJob, aSpec as spec, T0 } from './test-fixtures';

const SEED = 11;

const aNode = (nodeId: string, overrides: Partial<NodeFacts> = {}): NodeFacts => ({
  nodeId,
  pools: ['cpu'],
  labels: {},
  capacity: { cpu: 4, memoryMiB: 4_096, gpu: 0 },
  status: 'ready',
  ...overrides,
});

/**
 * The engine's bookkeeping as the engine keeps it: the same observed maps and sets, written the
 * way the engine's event fold and lease paths write them. The feeder hears of changes only
 * through those collections, as in the engine.
 */
class Engine {
  readonly feeder = new IncrementalPlacement({ seed: SEED });
  private readonly changed = (jobId: string): void => this.feeder.jobChanged(jobId);
  readonly jobs = new ObservedMap<string, JobView>(this.changed);
  readonly queued = new ObservedSet<string>(this.changed);
  readonly leased = new ObservedSet<string>(this.changed);
  readonly inFlight = new ObservedMap<string, InFlightLease>(this.changed);
  /** The epoch each lease command asked for (the engine keeps it in the command's closure). */
  private readonly asked = new Map<string, number>();
  nodes: NodeFacts[];

  constructor(nodes: NodeFacts[]) {
    this.nodes = nodes;
  }

  state(): LivePlacementState {
    return {
      nodes: this.nodes,
      jobs: this.jobs,
      queued: this.queued,
      leased: this.leased,
      inFlight: this.inFlight,
    };
  }

  /** The engine's apply(): a new view (or the job's end) and the memberships it implies. */
  fold(view: JobView): void {
    const jobId = view.jobId;
    if (view.phase === 'done') this.jobs.delete(jobId);
    else this.jobs.set(jobId, view);
    if (view.phase === 'queued' && !view.lease) this.queued.add(jobId);
    else this.queued.delete(jobId);
    if (view.lease && view.phase !== 'done') this.leased.add(jobId);
    else this.leased.delete(jobId);
  }

  /** The same pass twice: from scratch over a snapshot, and on the kept core. */
  pass(now: number, maxDecisions = 8, explainLimit = 16): { fresh: PassResult; kept: PassResult } {
    const snapshot = placementSnapshot(this.state(), {
      now,
      seed: SEED,
      maxDecisions,
      explainLimit,
    });
    const fresh = schedulePass(snapshot);
    const { pass, input } = this.feeder.pass(this.state(), {
      now,
      maxDecisions,
      explainLimit,
      withInput: true,
    });
    // What preemption reads: the same snapshot, whatever the order of its lists.
    const byId = <T extends { readonly nodeId?: string; readonly jobId?: string }>(
      items: readonly T[],
    ): T[] => [...items].sort((a, b) => ((a.nodeId ?? a.jobId)! < (b.nodeId ?? b.jobId)! ? -1 : 1));
    expect(input).not.toBeNull();
    expect(byId(input!.nodes)).toEqual(byId(snapshot.nodes));
    expect(byId(input!.jobs)).toEqual(byId(snapshot.jobs));
    expect(byId(input!.running)).toEqual(byId(snapshot.running));
    expect([input!.now, input!.config]).toEqual([snapshot.now, snapshot.config]);
    return { fresh, kept: pass };
  }

  /** What runPass does with a decision: a lease command goes out and holds the nodes. */
  sendLease(decision: PassResult['decisions'][number], now: number): void {
    this.asked.set(decision.jobId, this.jobs.get(decision.jobId)!.leaseEpoch + 1);
    this.inFlight.set(decision.jobId, {
      tenant: decision.tenant,
      jobId: decision.jobId,
      nodes: decision.nodes,
      at: now,
    });
  }

  /** The lease reply: granted (the engine records the lease unless JobLeased beat it). */
  leaseGranted(jobId: string, now: number): void {
    const flight = this.inFlight.get(jobId)!;
    this.inFlight.delete(jobId);
    const current = this.jobs.get(jobId);
    const epoch = this.asked.get(jobId)!;
    if (!current || (current.lease && current.lease.epoch >= epoch)) return;
    this.jobs.set(jobId, {
      ...current,
      phase: 'leased',
      attempt: current.attempt + 1,
      leaseEpoch: epoch,
      notBefore: null,
      lease: { epoch, attempt: current.attempt + 1, nodes: flight.nodes, leasedAt: now },
    });
    this.queued.delete(jobId);
    this.leased.add(jobId);
  }

  /** JobLeased folded while the lease command is still in flight: the job is in both. */
  jobLeasedEvent(jobId: string, now: number): void {
    const flight = this.inFlight.get(jobId)!;
    const current = this.jobs.get(jobId);
    if (!current) return;
    const epoch = this.asked.get(jobId)!;
    this.fold({
      ...current,
      version: current.version + 1,
      phase: 'leased',
      attempt: current.attempt + 1,
      leaseEpoch: epoch,
      notBefore: null,
      lease: { epoch, attempt: current.attempt + 1, nodes: flight.nodes, leasedAt: now - 5 },
    });
  }

  /** The lease reply: refused, with the engine's handling of each code. */
  leaseRefused(
    jobId: string,
    code: 'illegal' | 'backoff' | 'stale' | 'transient',
    notBefore: number,
  ): void {
    this.inFlight.delete(jobId);
    const current = this.jobs.get(jobId);
    if (!current) return;
    if (code === 'illegal' && !current.lease) {
      this.jobs.set(jobId, { ...current, phase: 'waiting' });
      this.queued.delete(jobId);
    } else if (code === 'backoff') {
      this.jobs.set(jobId, { ...current, notBefore });
    } else if (code === 'stale') {
      this.jobs.set(jobId, { ...current, leaseEpoch: current.leaseEpoch + 1 });
    }
  }
}

const expectSame = ({ fresh, kept }: { fresh: PassResult; kept: PassResult }): PassResult => {
  expect(kept).toEqual(fresh);
  return kept;
};

const ids = (pass: PassResult): string[] => pass.decisions.map((d) => d.jobId);

describe('IncrementalPlacement: the same passes as a core built from scratch each time', () => {
  /**
   * Random sequences of what the engine goes through, each pass run both ways and compared whole:
   * decisions (job, nodes, backfill), reservations, every explanation, what was considered.
   */
  it.each(Array.from({ length: 40 }, (_, i) => [i + 1]))('seed %i', (seed) => {
    const random = seededRandom(seed * 7_919);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const nodeFacts = (i: number): NodeFacts =>
      aNode(`n${i}`, {
        pools: i % 3 === 0 ? ['cpu', 'gpu'] : ['cpu'],
        labels: i % 4 === 0 ? { zone: 'a', 'cost-factor': '0.5' } : { zone: 'b' },
        capacity: { cpu: pick([4, 8]), memoryMiB: pick([4_096, 8_192]), gpu: i % 3 === 0 ? 2 : 0 },
      });
    const engine = new Engine(
      Array.from({ length: 4 + Math.floor(random() * 5) }, (_, i) => nodeFacts(i)),
    );
    let nextNode = engine.nodes.length;
    let now = T0;
    let next = 0;
    let passes = 0;
    let placed = 0;
    const submit = (): void => {
      const gpu = random() < 0.2;
      const id = `j${String(next++).padStart(3, '0')}`;
      engine.fold(
        queuedJob(id, {
          tenant: pick(['acme', 'zeta', 'ohm']),
          queuedAt: now - Math.floor(random() * 600_000),
          spec:
            random() < 0.03
              ? null
              : spec({
                  pool: gpu ? 'gpu' : 'cpu',
                  nodes: random() < 0.2 ? 2 + Math.floor(random() * 2) : 1,
                  resources: {
                    cpu: pick([0.5, 1, 2, 3]),
                    memoryMiB: pick([256, 1_024, 2_048]),
                    ...(gpu ? { gpu: 1 } : {}),
                  },
                  priority: pick([0, 50, 100]),
                  ...(random() < 0.7 ? { expectedRuntimeSeconds: pick([30, 300, 3_000]) } : {}),
                }),
        }),
      );
    };
    for (let i = 0; i < 12; i += 1) submit();
    for (let step = 0; step < 250; step += 1) {
      const roll = random();
      const jobIds = [...engine.jobs.keys()];
      const flying = [...engine.inFlight.keys()];
      const leased = [...engine.leased];
      const queued = [...engine.queued];
      if (roll < 0.3) {
        const { fresh, kept } = engine.pass(now, 1 + Math.floor(random() * 6), pick([0, 2, 16]));
        expectSame({ fresh, kept });
        passes += 1;
        placed += kept.decisions.length;
        for (const decision of kept.decisions) {
          // A decision dropped for a probe stays queued; the others go out as lease commands.
          if (random() < 0.1) continue;
          engine.sendLease(decision, now);
        }
      } else if (roll < 0.4) submit();
      else if (roll < 0.5 && flying.length > 0) engine.leaseGranted(pick(flying), now);
      else if (roll < 0.53 && flying.length > 0) {
        const jobId = pick(flying);
        if (!engine.jobs.get(jobId)?.lease) engine.jobLeasedEvent(jobId, now);
      } else if (roll < 0.6 && flying.length > 0)
        engine.leaseRefused(
          pick(flying),
          pick(['illegal', 'backoff', 'stale', 'transient'] as const),
          now + Math.floor(random() * 20_000),
        );
      else if (roll < 0.68 && leased.length > 0) {
        // A running job ends: done, or failed and queued again behind a backoff.
        const job = engine.jobs.get(pick(leased))!;
        engine.fold(
          random() < 0.5
            ? { ...job, version: job.version + 1, phase: 'done', lease: null }
            : {
                ...job,
                version: job.version + 1,
                phase: 'queued',
                lease: null,
                queuedAt: now,
                notBefore: now + Math.floor(random() * 15_000),
              },
        );
      } else if (roll < 0.7 && leased.length > 0) {
        // The lease was already over in the job's history (endLease's refusal).
        const job = engine.jobs.get(pick(leased))!;
        engine.jobs.set(job.jobId, { ...job, lease: null, phase: 'waiting' });
        engine.leased.delete(job.jobId);
      } else if (roll < 0.74 && queued.length > 0) {
        const job = engine.jobs.get(pick(queued))!;
        engine.fold({ ...job, version: job.version + 1, phase: pick(['done', 'held'] as const) });
      } else if (roll < 0.755 && queued.length > 0) {
        // Queued again while queued (a retry or a JobQueued read from the store after a gap).
        const job = engine.jobs.get(pick(queued))!;
        engine.fold({
          ...job,
          version: job.version + 1,
          queuedAt: now,
          notBefore: random() < 0.5 ? null : now + Math.floor(random() * 15_000),
        });
      } else if (roll < 0.77 && jobIds.length > 0) {
        // Nothing the placement reads changes: a new version of the view only.
        const job = engine.jobs.get(pick(jobIds))!;
        engine.fold({ ...job, version: job.version + 1 });
      } else if (roll < 0.87 && engine.nodes.length > 0) {
        const at = Math.floor(random() * engine.nodes.length);
        const node = engine.nodes[at]!;
        const change = pick(['cordon', 'quarantine', 'lost', 'labels', 'capacity', 'remove']);
        const changed: NodeFacts =
          change === 'cordon'
            ? { ...node, cordoned: !node.cordoned }
            : change === 'quarantine'
              ? { ...node, quarantined: !node.quarantined }
              : change === 'lost'
                ? { ...node, status: node.status === 'lost' ? 'ready' : 'lost' }
                : change === 'labels'
                  ? { ...node, labels: { ...node.labels, 'cost-factor': pick(['0.2', '1', '2']) } }
                  : { ...node, capacity: { ...node.capacity, cpu: pick([2, 4, 8, 16]) } };
        engine.nodes = engine.nodes.map((n, i) => (i === at ? changed : n));
        if (change === 'remove') engine.nodes = engine.nodes.filter((_, i) => i !== at);
      } else if (roll < 0.9) {
        // A node joins, or one that left comes back (its running work still on it).
        const id = random() < 0.5 ? nextNode++ : Math.floor(random() * nextNode);
        if (!engine.nodes.some((n) => n.nodeId === `n${id}`))
          engine.nodes = [...engine.nodes, nodeFacts(id)];
      } else if (roll < 0.91) {
        engine.feeder.startOver();
      } else {
        now += Math.floor(random() * 10_000);
      }
    }
    // The sequences did reach the paths they are for.
    expect(passes).toBeGreaterThan(40);
    expect(placed).toBeGreaterThan(10);
  });
});

describe('IncrementalPlacement: the paths between passes', () => {
  it('puts a job whose lease was refused back in the queue, and places it again', () => {
    const engine = new Engine([aNode('n1', { capacity: { cpu: 1, memoryMiB: 4_096, gpu: 0 } })]);
    engine.fold(queuedJob('a'));
    engine.fold(queuedJob('b', { queuedAt: T0 + 1 }));
    const first = expectSame(engine.pass(T0));
    expect(ids(first)).toEqual(['a']);
    engine.sendLease(first.decisions[0]!, T0);
    // In flight, it holds the node: b cannot start.
    expect(ids(expectSame(engine.pass(T0 + 1)))).toEqual([]);
    engine.leaseRefused('a', 'transient', 0);
    expect(ids(expectSame(engine.pass(T0 + 2)))).toEqual(['a']);
  });

  it('puts a decision the engine dropped (one probe per node) back in the queue', () => {
    const engine = new Engine([aNode('n1')]);
    engine.fold(queuedJob('a'));
    expect(ids(expectSame(engine.pass(T0)))).toEqual(['a']);
    // Nothing sent, nothing changed in the engine: the job is still queued there.
    const again = expectSame(engine.pass(T0 + 1));
    expect(ids(again)).toEqual(['a']);
    expect(again.decisions[0]!.nodes).toEqual([{ nodeId: 'n1', rank: 0 }]);
  });

  it('places a job once its backoff is over, with no change told in between', () => {
    const engine = new Engine([aNode('n1')]);
    engine.fold(queuedJob('a', { notBefore: T0 + 10_000 }));
    const waiting = expectSame(engine.pass(T0));
    expect(ids(waiting)).toEqual([]);
    expect(waiting.explanations[0]!.waitingFor).toEqual({ kind: 'backoff', until: T0 + 10_000 });
    expect(ids(expectSame(engine.pass(T0 + 10_000)))).toEqual(['a']);
  });

  it('takes a new backoff from a refused lease, and the job waits for it', () => {
    const engine = new Engine([aNode('n1')]);
    engine.fold(queuedJob('a'));
    engine.sendLease(expectSame(engine.pass(T0)).decisions[0]!, T0);
    engine.leaseRefused('a', 'backoff', T0 + 5_000);
    expect(expectSame(engine.pass(T0 + 1)).explanations[0]!.waitingFor).toEqual({
      kind: 'backoff',
      until: T0 + 5_000,
    });
  });

  it('stops placing on a node that is gone, and counts its running work when it comes back', () => {
    const n1 = aNode('n1', { capacity: { cpu: 2, memoryMiB: 4_096, gpu: 0 } });
    const n2 = aNode('n2', { capacity: { cpu: 2, memoryMiB: 4_096, gpu: 0 } });
    const engine = new Engine([n1, n2]);
    engine.fold(queuedJob('run', { spec: spec({ resources: { cpu: 2, memoryMiB: 256 } }) }));
    const first = expectSame(engine.pass(T0));
    engine.sendLease(first.decisions[0]!, T0);
    engine.leaseGranted('run', T0);
    const runsOn = first.decisions[0]!.nodes[0]!.nodeId;
    const other = runsOn === 'n1' ? n2 : n1;
    engine.nodes = [other];
    engine.fold(queuedJob('a', { queuedAt: T0 + 1 }));
    engine.fold(queuedJob('b', { queuedAt: T0 + 2 }));
    engine.fold(queuedJob('c', { queuedAt: T0 + 3 }));
    const without = expectSame(engine.pass(T0 + 1));
    expect(without.decisions.map((d) => d.nodes[0]!.nodeId)).toEqual([other.nodeId, other.nodeId]);
    for (const decision of without.decisions) engine.sendLease(decision, T0 + 1);
    // Back, still full with the job that runs there: nothing fits on it.
    engine.nodes = [n1, n2];
    const back = expectSame(engine.pass(T0 + 2));
    expect(ids(back)).toEqual([]);
    expect(back.explanations.find((e) => e.jobId === 'c')!.filtered).toContainEqual({
      nodeId: runsOn,
      filter: 'resources',
    });
  });

  it('starts over from the whole state after a long silence, and before its first pass', () => {
    const engine = new Engine([aNode('n1', { capacity: { cpu: 8, memoryMiB: 8_192, gpu: 0 } })]);
    // More changes than it lists (a standby's, a burst): it rebuilds rather than grow the list.
    for (let i = 0; i < 5_000; i += 1)
      engine.fold(queuedJob(`j${String(i).padStart(4, '0')}`, { queuedAt: T0 + i }));
    expect(ids(expectSame(engine.pass(T0 + 5_000)))).toHaveLength(8);
    for (let i = 0; i < 5_000; i += 1) {
      const job = engine.jobs.get(`j${String(i).padStart(4, '0')}`);
      if (job) engine.fold({ ...job, phase: 'done' });
    }
    engine.fold(queuedJob('last'));
    expect(ids(expectSame(engine.pass(T0 + 5_001)))).toEqual(['last']);
  });

  it('hears every write to the observed collections', () => {
    const heard: string[] = [];
    const map = new ObservedMap<string, number>((key) => heard.push(`m:${key}`));
    const set = new ObservedSet<string>((value) => heard.push(`s:${value}`));
    map.set('a', 1);
    map.delete('a');
    map.set('b', 2);
    map.clear();
    set.add('x');
    set.delete('x');
    set.add('y');
    set.clear();
    expect(heard).toEqual(['m:a', 'm:a', 'm:b', 'm:b', 's:x', 's:x', 's:y', 's:y']);
    expect(map.size + set.size).toBe(0);
  });
});
