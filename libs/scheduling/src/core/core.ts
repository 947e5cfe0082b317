import { ErrorCodes, GantryError } from '@gantry/contracts';
import { type Resources } from '../placement';
import { affinityFor, type AffinityTable } from './affinity';
import { Heap, IndexedHeap, seededHash } from './heap';
import {
  type CandidateScore,
  type CoreConfig,
  type CoreJob,
  type CoreNode,
  type Decision,
  type Explanation,
  type HardFilter,
  type PassOptions,
  type PassResult,
  type PoolPolicy,
  type Reservation,
  type RunningAllocation,
  type ScoreWeights,
  type Terms,
  type WaitingFor,
} from './types';

/**
 * The placement core (C2, C3, C5): deterministic, pure (no clock, no randomness, no I/O).
 *
 * Fair share (C2). Each tenant has one queue per pool, ordered by effective priority, then age,
 * then job id. Effective priority = priority + `agingPerMinute` (default 1) x minutes waited, so a
 * job that has waited 100 minutes is ahead of a newer one with 100 more priority points: nothing
 * waits forever behind newer, higher-priority work. The aging rate is the same for every job, so
 * the order does not change with `now` and a heap keyed on `priority - rate x enqueuedAt` holds it.
 * Across tenants, the next job comes from the tenant with the lowest weighted dominant share in
 * that job's pool: max over cpu, memory and gpu of (tenant's running use / pool capacity), divided
 * by the tenant's weight (default 1). Ties go to the tenant id.
 *
 * Gangs and backfill (C3). A job gets all of its N nodes in one step or nothing: nothing is ever
 * held for a job that cannot start. A pass has two phases.
 *  1. Per pool (in name order), its head of line (the top job of the tenant with the lowest
 *     weighted dominant share there) starts while it fits. The first that cannot start gets the
 *     pool's reservation: the earliest time N nodes have room for it, from the expected ends of
 *     running work (unknown runtime: `defaultRuntimeSeconds`, default 3600 s from its start;
 *     already overdue: `now + overdueGraceSeconds`, default 60 s), on those N nodes. A job that can
 *     never fit the pool (too few nodes pass its static filters) is passed over, not reserved for.
 *  2. Backfill: every other job in fair-share order (each tenant's best job, then the lowest
 *     share). A job may use a reserved node only if it ends before the reservation starts (now +
 *     its expected runtime; unknown = the default), or if what it takes leaves the reservation's
 *     need free on that node at its start. Other nodes are free to use. So backfill never pushes
 *     a reservation back (property-tested).
 * Speed: queues are kept per (tenant, pool, shape), shape = per-rank resources, gang size and node
 * selector. Within a pass free room only shrinks, so a shape that failed stays failed and its jobs
 * are skipped in one step, and shapes that cannot fit the room the pass started with are never
 * looked at: a pass after one job ended costs O(tenants x shapes that fit + nodes), not O(queue).
 * The price: after the reservation turns away a job of a shape for running too long, at most
 * BACKFILL_PROBES longer jobs of that shape are looked past per pass (Slurm's bf_max_job_test idea).
 *
 * Scoring (C5), after the hard filters (labels, health: lost/cordoned/quarantined, capacity,
 * free resources, reservation), is a weighted sum of terms, weights by default
 *   fit 1 (pack: the node's dominant use after placing; spread: 1 minus it),
 *   load 0.5 (1 - reported load, or the cpu share in use), health 1 (node health 0..1),
 *   locality 2 (the share of the job's inputs the node holds: F6), affinity 1 (learned, -1..1),
 *   cost 1 (1 / (1 + the node's cost factor): 0.5 at list price, more for cheaper nodes).
 * Equal totals are broken by a seeded hash of (seed, job, node), then node id.
 *
 * State is incremental so a service can keep one core and feed it events: upsertNode (what a
 * heartbeat says is authoritative for `used`), enqueue/dequeue, track (running work the core did
 * not place), release (work that ended). A pass applies its own decisions to the state.
 */

interface Vec {
  cpu: number;
  memoryMiB: number;
  gpu: number;
}

interface Release {
  readonly end: number;
  readonly jobId: string;
  readonly resources: Resources;
}

interface NodeState {
  readonly node: CoreNode;
  readonly free: Vec;
  readonly allocations: Set<string>;
  /** Its allocations by expected end (raw, before the overdue rule): a cache, dropped on change. */
  releases: Release[] | null;
  readonly held: ReadonlySet<string>;
  readonly schedulable: boolean;
}

interface Allocation {
  readonly jobId: string;
  readonly tenant: string;
  readonly pool: string;
  readonly nodes: readonly string[];
  readonly resources: Resources;
  readonly end: number | null;
  readonly startedAt: number;
}

interface Entry {
  readonly job: CoreJob;
  readonly key: number;
}

/** One tenant's jobs of one pool and one shape: a shape that cannot fit is skipped in one step. */
interface ShapeQueue {
  readonly tenant: string;
  readonly pool: string;
  readonly shape: string;
  readonly resources: Resources;
  readonly nodes: number;
  readonly heap: Heap<Entry>;
  heapIndex: number;
}

/** Shape queues in a tenant's ready heap are ordered by their head job. */
const queueLess = (a: ShapeQueue, b: ShapeQueue): boolean =>
  entryLess(a.heap.peek()!, b.heap.peek()!);

/** A shape queue's place in one pass's backfill heap (its own heapIndex belongs to the ready heap). */
interface PassQueue {
  readonly queue: ShapeQueue;
  heapIndex: number;
}

const passQueueLess = (a: PassQueue, b: PassQueue): boolean => queueLess(a.queue, b.queue);

interface Evaluation {
  /** Nodes that pass every filter: the job starts when there are N. */
  readonly eligible: number;
  /** The best N (or, explaining, all of them), best first. */
  readonly candidates: readonly CandidateScore[];
  readonly filtered: readonly { readonly nodeId: string; readonly filter: HardFilter }[];
  /** Nodes that pass the static filters (could ever host a rank). */
  readonly feasible: number;
  /** Nodes only a reservation kept out, and the earliest such reservation's start. */
  readonly heldBack: number;
  readonly heldFrom: number;
  readonly policy: PoolPolicy;
  readonly outsidePool: number;
}

interface Reserved {
  readonly jobId: string;
  readonly startsAt: number;
  readonly slack: Vec;
}

interface PoolPass {
  open: number;
  /** Free cpu, memory and gpu of the pool's schedulable nodes at the start of the pass, largest first. */
  readonly bound: { readonly cpu: number[]; readonly memoryMiB: number[]; readonly gpu: number[] };
  reservation: Reservation | null;
  /** Shapes that cannot start in this pool for the rest of the pass. */
  readonly failedShapes: Set<string>;
  /** Shape -> the longest runtime (ms) that still backfills, once the reservation turned one away. */
  readonly heldBack: Map<string, number>;
  /** Shape -> how many of its jobs were turned away for running too long (bounded probing). */
  readonly probes: Map<string, number>;
}

/** Per pass and shape, how many too-long jobs are looked past before the shape is skipped. */
const BACKFILL_PROBES = 64;

/** Each explained job's 1-based place in its tenant's queue (by effective priority) at pass start. */
interface QueuePositions {
  of(job: CoreJob): number;
}

/** Explaining more jobs by name than this, a pass sorts the queue once instead of counting. */
const COUNTED_POSITIONS_UP_TO = 1_024;

/** What a pass reports besides its decisions; filled as the pass runs. */
export interface PassSink {
  reservations: Reservation[];
  explanations: Explanation[];
  considered: number;
  wakeAt: number | null;
}

/** A job of unknown runtime is taken to run this long (CoreConfig.defaultRuntimeSeconds). */
export const DEFAULT_RUNTIME_SECONDS = 3_600;
/** Work past its expected end is taken to end this long after now (CoreConfig.overdueGraceSeconds). */
export const DEFAULT_OVERDUE_GRACE_SECONDS = 60;

export const DEFAULT_WEIGHTS: ScoreWeights = {
  fit: 1,
  load: 0.5,
  health: 1,
  locality: 2,
  affinity: 1,
  cost: 1,
};

const EPSILON = 1e-9;

const fits = (free: Resources, need: Resources): boolean =>
  free.cpu + EPSILON >= need.cpu &&
  free.memoryMiB + EPSILON >= need.memoryMiB &&
  free.gpu + EPSILON >= need.gpu;

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const entryLess = (a: Entry, b: Entry): boolean =>
  a.key !== b.key
    ? a.key > b.key
    : a.job.enqueuedAt !== b.job.enqueuedAt
      ? a.job.enqueuedAt < b.job.enqueuedAt
      : a.job.jobId !== b.job.jobId
        ? a.job.jobId < b.job.jobId
        : a.job.tenant < b.job.tenant;

const badInput = (message: string, details: Record<string, unknown>): GantryError =>
  new GantryError(ErrorCodes.VALIDATION_FAILED, message, { details });

const selectorMatches = (job: CoreJob, node: CoreNode): boolean => {
  if (!job.nodeSelector) return true;
  for (const key of Object.keys(job.nodeSelector)) {
    if (node.labels[key] !== job.nodeSelector[key]) return false;
  }
  return true;
};

const shapeKey = (job: CoreJob): string =>
  `${job.resources.cpu}|${job.resources.memoryMiB}|${job.resources.gpu}|${job.nodes}|${
    job.nodeSelector
      ? Object.keys(job.nodeSelector)
          .sort()
          .map((k) => `${k}=${job.nodeSelector![k]}`)
          .join(',')
      : ''
  }`;

/** Cheaper is better, on an absolute scale so a node's term needs no other node to compute. */
export const costTerm = (costFactor: number | undefined): number =>
  1 / (1 + Math.max(0, costFactor ?? 1));

/** Ranks candidates: total desc, seeded tie-break desc, node id asc. */
export const compareCandidates = (a: CandidateScore, b: CandidateScore): number =>
  b.total - a.total || b.tieBreak - a.tieBreak || compareStrings(a.nodeId, b.nodeId);

/** The weighted sum; exported so that an explain answer can be checked by recomputing it. */
export const totalScore = (terms: Terms, weights: ScoreWeights): number =>
  weights.fit * terms.fit +
  weights.load * terms.load +
  weights.health * terms.health +
  weights.locality * terms.locality +
  weights.affinity * terms.affinity +
  weights.cost * terms.cost;

export class PlacementCore {
  private readonly nodes = new Map<string, NodeState>();
  private readonly poolNodes = new Map<string, NodeState[]>();
  private readonly dirtyPools = new Set<string>();
  private readonly poolCapacity = new Map<string, Vec>();
  private readonly poolMinNeed = new Map<string, Vec>();
  /**
   * Pools a job left since the last pass: their smallest need is taken again over the jobs still
   * queued when the next pass starts, so a kept core prunes full pools exactly as a fresh one.
   */
  private readonly staleMinNeed = new Set<string>();
  private readonly allocations = new Map<string, Allocation>();
  private readonly usage = new Map<string, Map<string, Vec>>();
  private readonly queues = new Map<string, Map<string, ShapeQueue>>();
  /** Per tenant, its non-empty shape queues by head job: the tenant's next job in O(1). */
  private readonly ready = new Map<string, Map<string, IndexedHeap<ShapeQueue>>>();
  /** Per pool and shape, every tenant's queue of that shape (a shape that cannot fit is skipped whole). */
  private readonly shapes = new Map<string, Map<string, ShapeQueue[]>>();
  private tenants: string[] = [];
  private readonly queued = new Map<string, CoreJob>();
  private affinity: AffinityTable = new Map();
  private readonly weights: ScoreWeights;
  private readonly agingPerMs: number;
  private readonly defaultRuntimeMs: number;
  private readonly overdueGraceMs: number;
  private readonly maxConsidered: number;

  constructor(private readonly config: CoreConfig) {
    this.weights = { ...DEFAULT_WEIGHTS, ...config.weights };
    this.agingPerMs = (config.agingPerMinute ?? 1) / 60_000;
    this.defaultRuntimeMs = (config.defaultRuntimeSeconds ?? DEFAULT_RUNTIME_SECONDS) * 1_000;
    this.overdueGraceMs = (config.overdueGraceSeconds ?? DEFAULT_OVERDUE_GRACE_SECONDS) * 1_000;
    this.maxConsidered = config.maxConsideredPerPass ?? 20_000;
    for (const [tenant, weight] of Object.entries(config.tenantWeights ?? {})) {
      if (!(weight > 0))
        throw badInput(`tenant ${tenant} has weight ${weight}; it must be > 0`, { tenant, weight });
    }
  }

  get queueDepth(): number {
    return this.queued.size;
  }

  runningJobs(): readonly string[] {
    return [...this.allocations.keys()].sort(compareStrings);
  }

  setAffinity(table: AffinityTable): void {
    this.affinity = table;
  }

  upsertNode(node: CoreNode): void {
    const previous = this.nodes.get(node.nodeId);
    if (previous) this.removeNode(node.nodeId);
    const state: NodeState = {
      node,
      free: {
        cpu: node.capacity.cpu - node.used.cpu,
        memoryMiB: node.capacity.memoryMiB - node.used.memoryMiB,
        gpu: node.capacity.gpu - node.used.gpu,
      },
      allocations: previous ? previous.allocations : new Set(),
      releases: null,
      held: new Set(node.heldInputs ?? []),
      schedulable: !node.lost && !node.cordoned && !node.quarantined,
    };
    this.nodes.set(node.nodeId, state);
    for (const pool of new Set(node.pools)) {
      this.dirtyPools.add(pool);
      if (!node.lost) {
        const cap = this.poolCapacity.get(pool) ?? { cpu: 0, memoryMiB: 0, gpu: 0 };
        cap.cpu += node.capacity.cpu;
        cap.memoryMiB += node.capacity.memoryMiB;
        cap.gpu += node.capacity.gpu;
        this.poolCapacity.set(pool, cap);
      }
    }
  }

  removeNode(nodeId: string): void {
    const state = this.nodes.get(nodeId);
    if (!state) return;
    this.nodes.delete(nodeId);
    for (const pool of new Set(state.node.pools)) {
      this.dirtyPools.add(pool);
      const cap = this.poolCapacity.get(pool);
      if (cap && !state.node.lost) {
        cap.cpu -= state.node.capacity.cpu;
        cap.memoryMiB -= state.node.capacity.memoryMiB;
        cap.gpu -= state.node.capacity.gpu;
      }
    }
  }

  enqueue(job: CoreJob): void {
    if (this.queued.has(job.jobId) || this.allocations.has(job.jobId)) {
      throw badInput(`job ${job.jobId} is already known to the scheduler`, { jobId: job.jobId });
    }
    if (!(job.nodes >= 1) || !Number.isInteger(job.nodes)) {
      throw badInput(`job ${job.jobId} asks for ${job.nodes} nodes; a gang is 1 or more`, {
        jobId: job.jobId,
      });
    }
    const weight = this.config.tenantWeights?.[job.tenant];
    if (weight !== undefined && !(weight > 0)) throw badInput('bad weight', { tenant: job.tenant });
    this.queued.set(job.jobId, job);
    let byPool = this.queues.get(job.tenant);
    if (!byPool) {
      byPool = new Map();
      this.queues.set(job.tenant, byPool);
      this.tenants = [...this.tenants, job.tenant].sort(compareStrings);
    }
    const shape = shapeKey(job);
    const queueKey = `${job.pool}\u0000${shape}`;
    let queue = byPool.get(queueKey);
    if (!queue) {
      queue = {
        tenant: job.tenant,
        pool: job.pool,
        shape,
        resources: job.resources,
        nodes: job.nodes,
        heap: new Heap(entryLess),
        heapIndex: -1,
      };
      byPool.set(queueKey, queue);
      let byShape = this.shapes.get(job.pool);
      if (!byShape) {
        byShape = new Map();
        this.shapes.set(job.pool, byShape);
      }
      const list = byShape.get(shape) ?? [];
      list.push(queue);
      byShape.set(shape, list);
    }
    queue.heap.push({ job, key: this.keyOf(job) });
    this.relist(queue);
    const min = this.poolMinNeed.get(job.pool);
    if (!min) this.poolMinNeed.set(job.pool, { ...job.resources });
    else {
      min.cpu = Math.min(min.cpu, job.resources.cpu);
      min.memoryMiB = Math.min(min.memoryMiB, job.resources.memoryMiB);
      min.gpu = Math.min(min.gpu, job.resources.gpu);
    }
  }

  dequeue(jobId: string): boolean {
    const job = this.queued.get(jobId);
    if (!job) return false;
    this.queued.delete(jobId);
    this.staleMinNeed.add(job.pool);
    const queue = this.queues.get(job.tenant)?.get(`${job.pool}\u0000${shapeKey(job)}`);
    if (queue) {
      queue.heap.removeWhere((e) => e.job.jobId === jobId);
      this.relist(queue);
    }
    return true;
  }

  /** The smallest need of each pool a job left, over its shapes that still hold jobs. */
  private refreshMinNeed(): void {
    for (const pool of this.staleMinNeed) {
      let min: Vec | null = null;
      for (const queues of this.shapes.get(pool)?.values() ?? []) {
        if (!queues.some((queue) => queue.heap.size > 0)) continue;
        const need = queues[0]!.resources;
        if (!min) min = { cpu: need.cpu, memoryMiB: need.memoryMiB, gpu: need.gpu };
        else {
          min.cpu = Math.min(min.cpu, need.cpu);
          min.memoryMiB = Math.min(min.memoryMiB, need.memoryMiB);
          min.gpu = Math.min(min.gpu, need.gpu);
        }
      }
      if (min) this.poolMinNeed.set(pool, min);
      else this.poolMinNeed.delete(pool);
    }
    this.staleMinNeed.clear();
  }

  /** Puts a shape queue where its (new) head belongs in its tenant's ready heap, or out if empty. */
  private relist(queue: ShapeQueue): void {
    let byTenant = this.ready.get(queue.pool);
    if (!byTenant) {
      byTenant = new Map();
      this.ready.set(queue.pool, byTenant);
    }
    let ready = byTenant.get(queue.tenant);
    if (!ready) {
      ready = new IndexedHeap(queueLess);
      byTenant.set(queue.tenant, ready);
    }
    if (queue.heap.size === 0) ready.remove(queue);
    else if (ready.has(queue)) ready.update(queue);
    else ready.push(queue);
  }

  /** Running work the core did not place itself (a restart, another scheduler's lease). */
  track(running: RunningAllocation, subtractFromFree = false): void {
    if (this.allocations.has(running.jobId)) {
      throw badInput(`allocation ${running.jobId} is already tracked`, { jobId: running.jobId });
    }
    this.allocations.set(running.jobId, { ...running, end: running.expectedEnd });
    this.addUsage(running.tenant, running.pool, running.resources, running.nodes.length);
    for (const nodeId of running.nodes) {
      const state = this.nodes.get(nodeId);
      if (!state) continue;
      state.allocations.add(running.jobId);
      state.releases = null;
      if (subtractFromFree) {
        state.free.cpu -= running.resources.cpu;
        state.free.memoryMiB -= running.resources.memoryMiB;
        state.free.gpu -= running.resources.gpu;
      }
    }
  }

  /** Work that ended (or whose lease was lost): its resources are free again. */
  release(jobId: string): void {
    const allocation = this.allocations.get(jobId);
    if (!allocation) return;
    this.allocations.delete(jobId);
    this.addUsage(
      allocation.tenant,
      allocation.pool,
      allocation.resources,
      -allocation.nodes.length,
    );
    for (const nodeId of allocation.nodes) {
      const state = this.nodes.get(nodeId);
      if (!state) continue;
      state.allocations.delete(jobId);
      state.releases = null;
      state.free.cpu += allocation.resources.cpu;
      state.free.memoryMiB += allocation.resources.memoryMiB;
      state.free.gpu += allocation.resources.gpu;
    }
  }

  /** One pass, all at once. */
  schedule(now: number, options: PassOptions = {}): PassResult {
    const decisions: Decision[] = [];
    const sink: PassSink = { reservations: [], explanations: [], considered: 0, wakeAt: null };
    for (const decision of this.passIterator(now, options, sink)) decisions.push(decision);
    return { decisions, ...sink };
  }

  /**
   * One pass, a decision at a time (the benchmark times each step). The state is consistent
   * only once the iterator is done: drain it.
   */
  *passIterator(
    now: number,
    options: PassOptions,
    sink: PassSink,
  ): Generator<Decision, void, undefined> {
    this.refreshMinNeed();
    const maxDecisions = options.maxDecisions ?? Number.POSITIVE_INFINITY;
    const explainAll = options.explain === 'all';
    const explainSet = options.explain instanceof Set ? options.explain : null;
    const explainPlaced = options.explainPlaced ?? false;
    const explaining = explainAll || explainPlaced || (explainSet !== null && explainSet.size > 0);
    // Entries the pass took out of their heaps and has not put back: with the heaps, the queue as
    // the pass found it, in which an explained job's place is counted.
    const outside = new Map<string, Set<Entry>>();
    const positions = this.queuePositions(
      explaining,
      explainAll || (explainSet?.size ?? 0) > COUNTED_POSITIONS_UP_TO,
      outside,
    );
    const consideredIds = new Set<string>();
    const reserved = new Map<string, Reserved>();
    const pools = new Map<string, PoolPass>();
    const poolPass = (pool: string): PoolPass => {
      let pass = pools.get(pool);
      if (!pass) {
        pass = {
          open: this.countOpen(pool),
          bound: this.freeBound(pool),
          reservation: null,
          failedShapes: new Set(),
          heldBack: new Map(),
          probes: new Map(),
        };
        pools.set(pool, pass);
      }
      return pass;
    };
    const skipped: { entry: Entry; queue: ShapeQueue }[] = [];
    let decided = 0;
    const more = (): boolean => decided < maxDecisions && sink.considered < this.maxConsidered;
    const runtimeOf = (job: CoreJob): number =>
      job.expectedRuntimeSeconds === null
        ? this.defaultRuntimeMs
        : job.expectedRuntimeSeconds * 1_000;
    const take = (queue: ShapeQueue): Entry => {
      const entry = queue.heap.pop()!;
      this.relist(queue);
      let taken = outside.get(entry.job.tenant);
      if (!taken) {
        taken = new Set();
        outside.set(entry.job.tenant, taken);
      }
      taken.add(entry);
      sink.considered += 1;
      consideredIds.add(entry.job.jobId);
      return entry;
    };
    const explains = (job: CoreJob): boolean => explainAll || (explainSet?.has(job.jobId) ?? false);
    const place = (
      job: CoreJob,
      attempt: Evaluation,
      share: number,
      backfill: boolean,
      explain: boolean,
    ): Decision => {
      // Explaining every placement costs one more full evaluation per decision (bounded by the
      // decisions a pass makes), not one per job looked at: it is made only once the job is placed.
      const explained = explain
        ? attempt
        : explainPlaced
          ? this.evaluate(job, now, now + runtimeOf(job), reserved, true)
          : null;
      const chosen = attempt.candidates.slice(0, job.nodes);
      this.apply(
        job,
        chosen.map((c) => c.nodeId),
        now,
        runtimeOf(job),
        reserved,
        poolPass,
      );
      if (explained) {
        sink.explanations.push(
          this.placedExplanation(
            job,
            positions,
            share,
            explained,
            explained.candidates.slice(0, job.nodes),
          ),
        );
      }
      decided += 1;
      return {
        tenant: job.tenant,
        jobId: job.jobId,
        pool: job.pool,
        nodes: chosen.map((c, rank) => ({ nodeId: c.nodeId, rank })),
        backfill,
      };
    };
    const backoff = (job: CoreJob, share: number): boolean => {
      if (job.notBefore === null || job.notBefore <= now) return false;
      sink.wakeAt = sink.wakeAt === null ? job.notBefore : Math.min(sink.wakeAt, job.notBefore);
      if (explains(job)) {
        sink.explanations.push(
          this.waitingExplanation(
            job,
            positions,
            share,
            { kind: 'backoff', until: job.notBefore },
            null,
            'its retry backoff is not over',
          ),
        );
      }
      return true;
    };
    try {
      // Phase 1, per pool: its head of line (the top job of the tenant with the lowest weighted
      // dominant share there) starts while it fits; the first that cannot gets the reservation.
      for (const pool of [...this.ready.keys()].sort(compareStrings)) {
        const pass = poolPass(pool);
        while (more()) {
          const head = this.headOfLine(pool);
          if (!head) break;
          const entry = take(head.queue);
          const job = entry.job;
          skipped.push({ entry, queue: head.queue });
          if (backoff(job, head.share)) continue;
          const explain = explains(job);
          const attempt = this.evaluate(job, now, now + runtimeOf(job), reserved, explain);
          if (attempt.eligible >= job.nodes) {
            skipped.pop();
            yield place(job, attempt, head.share, false, explain);
            continue;
          }
          pass.failedShapes.add(head.queue.shape);
          if (attempt.feasible < job.nodes) {
            // It can never start here: it must not hold the pool's reservation; the next job may.
            if (explain)
              sink.explanations.push(
                this.waitingExplanation(
                  job,
                  positions,
                  head.share,
                  { kind: 'never-fits', feasibleNodes: attempt.feasible },
                  attempt,
                  `only ${attempt.feasible} node(s) of pool ${job.pool} could ever host a rank; it needs ${job.nodes}`,
                ),
              );
            continue;
          }
          const reservation = this.reserve(job, now, reserved);
          if (reservation) {
            pass.reservation = reservation;
            sink.reservations.push(reservation);
          }
          if (explain) {
            sink.explanations.push(
              reservation
                ? this.waitingExplanation(
                    job,
                    positions,
                    head.share,
                    {
                      kind: 'reservation',
                      startsAt: reservation.startsAt,
                      nodes: reservation.nodes,
                    },
                    attempt,
                    `head of line in pool ${job.pool}: ${job.nodes} node(s) reserved from ${new Date(reservation.startsAt).toISOString()}`,
                  )
                : this.waitingExplanation(
                    job,
                    positions,
                    head.share,
                    { kind: 'capacity', behind: null },
                    attempt,
                    'head of line, but the nodes it could use are reserved for another pool',
                  ),
            );
          }
          break;
        }
      }

      // Phase 2, backfill: every other job, in fair-share order, but only of shapes that may still
      // fit (free room only shrinks in a pass, so the room at its start bounds it). A pass after one
      // job ended looks at the few shapes that fit the freed room, not at the whole queue.
      const heaps = new Map<string, IndexedHeap<PassQueue>>();
      for (const [pool, byShape] of this.shapes) {
        const pass = poolPass(pool);
        for (const [shape, queues] of byShape) {
          if (pass.failedShapes.has(shape)) continue;
          if (!this.mayFit(queues[0]!, pass.bound)) {
            pass.failedShapes.add(shape);
            continue;
          }
          for (const queue of queues) {
            if (queue.heap.size === 0) continue;
            let heap = heaps.get(queue.tenant);
            if (!heap) {
              heap = new IndexedHeap(passQueueLess);
              heaps.set(queue.tenant, heap);
            }
            heap.push({ queue, heapIndex: -1 });
          }
        }
      }
      const tenants = this.tenants.filter((tenant) => heaps.has(tenant));
      while (more()) {
        const pick = this.nextBackfill(tenants, heaps, poolPass);
        if (!pick) break;
        const queue = pick.item.queue;
        const entry = take(queue);
        const heap = heaps.get(queue.tenant)!;
        if (queue.heap.size === 0) heap.remove(pick.item);
        else heap.update(pick.item);
        const job = entry.job;
        skipped.push({ entry, queue });
        if (backoff(job, pick.share)) continue;
        const pass = poolPass(job.pool);
        const explain = explains(job);
        const runtimeMs = runtimeOf(job);
        const longest = pass.heldBack.get(queue.shape);
        if (longest !== undefined && runtimeMs > longest && !explain) {
          const probes = (pass.probes.get(queue.shape) ?? 0) + 1;
          pass.probes.set(queue.shape, probes);
          if (probes >= BACKFILL_PROBES) pass.failedShapes.add(queue.shape);
          continue;
        }
        const attempt = this.evaluate(job, now, now + runtimeMs, reserved, explain);
        if (attempt.eligible >= job.nodes) {
          skipped.pop();
          yield place(job, attempt, pick.share, pass.reservation !== null, explain);
          continue;
        }
        if (attempt.eligible + attempt.heldBack >= job.nodes && Number.isFinite(attempt.heldFrom)) {
          // Only the reservation kept it out: a job of this shape that ends in time still backfills.
          pass.heldBack.set(queue.shape, Math.min(longest ?? Infinity, attempt.heldFrom - now));
        } else {
          pass.failedShapes.add(queue.shape);
        }
        if (explain)
          sink.explanations.push(
            this.blockedExplanation(job, positions, pick.share, attempt, pass),
          );
      }
    } finally {
      for (const { entry, queue } of skipped) {
        queue.heap.push(entry);
        this.relist(queue);
        outside.get(entry.job.tenant)?.delete(entry);
      }
    }
    if (explaining) {
      // Jobs the pass did not reach: explained against the state the pass left.
      const remaining = explainAll ? [...this.queued.keys()] : [...(explainSet ?? [])];
      for (const jobId of remaining.sort(compareStrings)) {
        const job = this.queued.get(jobId);
        if (!job || consideredIds.has(jobId)) continue;
        const share = this.share(job.tenant, job.pool);
        if (backoff(job, share)) continue;
        const pass = poolPass(job.pool);
        const attempt = this.evaluate(job, now, now + runtimeOf(job), reserved, true);
        sink.explanations.push(
          attempt.eligible >= job.nodes
            ? this.waitingExplanation(
                job,
                positions,
                share,
                { kind: 'not-considered' },
                attempt,
                'the pass ended (decision or consideration limit) before reaching it',
              )
            : this.blockedExplanation(job, positions, share, attempt, pass),
        );
      }
    }
  }

  private blockedExplanation(
    job: CoreJob,
    positions: QueuePositions,
    share: number,
    attempt: Evaluation,
    pass: PoolPass,
  ): Explanation {
    if (attempt.feasible < job.nodes) {
      return this.waitingExplanation(
        job,
        positions,
        share,
        { kind: 'never-fits', feasibleNodes: attempt.feasible },
        attempt,
        `only ${attempt.feasible} node(s) of pool ${job.pool} could ever host a rank; it needs ${job.nodes}`,
      );
    }
    const reservation = pass.reservation;
    return this.waitingExplanation(
      job,
      positions,
      share,
      {
        kind: 'capacity',
        behind: reservation ? { jobId: reservation.jobId, startsAt: reservation.startsAt } : null,
      },
      attempt,
      reservation
        ? `not enough free nodes now that do not delay ${reservation.jobId}'s reservation`
        : 'not enough free nodes now',
    );
  }

  /** The pool's head of line: the top job of the tenant with the lowest weighted dominant share. */
  private headOfLine(pool: string): { queue: ShapeQueue; share: number } | null {
    const byTenant = this.ready.get(pool);
    if (!byTenant) return null;
    let best: { queue: ShapeQueue; share: number } | null = null;
    for (const tenant of this.tenants) {
      const top = byTenant.get(tenant)?.peek();
      if (!top) continue;
      const share = this.share(tenant, pool);
      if (!best || share < best.share) best = { queue: top, share };
    }
    return best;
  }

  /**
   * The next backfill job: each tenant's best queue still in play (a queue whose shape failed or
   * whose pool is full drops out), then the lowest weighted dominant share. O(tenants) per step.
   */
  private nextBackfill(
    tenants: readonly string[],
    heaps: ReadonlyMap<string, IndexedHeap<PassQueue>>,
    poolPass: (pool: string) => PoolPass,
  ): { item: PassQueue; share: number } | null {
    let best: { item: PassQueue; share: number } | null = null;
    for (const tenant of tenants) {
      const heap = heaps.get(tenant)!;
      let top = heap.peek();
      while (top) {
        const pass = poolPass(top.queue.pool);
        if (pass.open > 0 && !pass.failedShapes.has(top.queue.shape)) break;
        heap.remove(top);
        top = heap.peek();
      }
      if (!top) continue;
      const share = this.share(tenant, top.queue.pool);
      if (!best || share < best.share) best = { item: top, share };
    }
    return best;
  }

  private addUsage(tenant: string, pool: string, resources: Resources, times: number): void {
    let byPool = this.usage.get(tenant);
    if (!byPool) {
      byPool = new Map();
      this.usage.set(tenant, byPool);
    }
    const use = byPool.get(pool) ?? { cpu: 0, memoryMiB: 0, gpu: 0 };
    use.cpu += resources.cpu * times;
    use.memoryMiB += resources.memoryMiB * times;
    use.gpu += resources.gpu * times;
    byPool.set(pool, use);
  }

  /** Weighted dominant share of a tenant in a pool (DRF). */
  share(tenant: string, pool: string): number {
    const use = this.usage.get(tenant)?.get(pool);
    const cap = this.poolCapacity.get(pool);
    const weight = this.config.tenantWeights?.[tenant] ?? 1;
    if (!use || !cap) return 0;
    let dominant = 0;
    if (cap.cpu > 0) dominant = Math.max(dominant, use.cpu / cap.cpu);
    if (cap.memoryMiB > 0) dominant = Math.max(dominant, use.memoryMiB / cap.memoryMiB);
    if (cap.gpu > 0) dominant = Math.max(dominant, use.gpu / cap.gpu);
    return dominant / weight;
  }

  private sortedPool(pool: string): NodeState[] {
    if (this.dirtyPools.has(pool) || !this.poolNodes.has(pool)) {
      const list: NodeState[] = [];
      for (const state of this.nodes.values())
        if (state.node.pools.includes(pool)) list.push(state);
      list.sort((a, b) => compareStrings(a.node.nodeId, b.node.nodeId));
      this.poolNodes.set(pool, list);
      this.dirtyPools.delete(pool);
    }
    return this.poolNodes.get(pool)!;
  }

  private freeBound(pool: string): PoolPass['bound'] {
    const cpu: number[] = [];
    const memoryMiB: number[] = [];
    const gpu: number[] = [];
    for (const state of this.sortedPool(pool)) {
      if (!state.schedulable) continue;
      cpu.push(state.free.cpu);
      memoryMiB.push(state.free.memoryMiB);
      gpu.push(state.free.gpu);
    }
    const desc = (a: number, b: number) => b - a;
    return { cpu: cpu.sort(desc), memoryMiB: memoryMiB.sort(desc), gpu: gpu.sort(desc) };
  }

  /** A necessary condition: N nodes each with at least the need on every resource, taken apart. */
  private mayFit(
    job: { readonly nodes: number; readonly resources: Resources },
    bound: PoolPass['bound'],
  ): boolean {
    const n = job.nodes - 1;
    if (bound.cpu.length <= n) return false;
    return (
      bound.cpu[n]! + EPSILON >= job.resources.cpu &&
      bound.memoryMiB[n]! + EPSILON >= job.resources.memoryMiB &&
      bound.gpu[n]! + EPSILON >= job.resources.gpu
    );
  }

  private isOpen(state: NodeState, pool: string): boolean {
    const min = this.poolMinNeed.get(pool);
    return state.schedulable && min !== undefined && fits(state.free, min);
  }

  private countOpen(pool: string): number {
    let open = 0;
    for (const state of this.sortedPool(pool)) if (this.isOpen(state, pool)) open += 1;
    return open;
  }

  private runtimeEnd(allocation: Allocation, now: number): number {
    const end = allocation.end ?? allocation.startedAt + this.defaultRuntimeMs;
    return end > now ? end : now + this.overdueGraceMs;
  }

  private scoreNode(
    job: CoreJob,
    state: NodeState,
    policy: PoolPolicy,
    now: number,
  ): CandidateScore {
    const cap = state.node.capacity;
    let use = 0;
    if (cap.cpu > 0) use = Math.max(use, (cap.cpu - state.free.cpu + job.resources.cpu) / cap.cpu);
    if (cap.memoryMiB > 0)
      use = Math.max(
        use,
        (cap.memoryMiB - state.free.memoryMiB + job.resources.memoryMiB) / cap.memoryMiB,
      );
    if (cap.gpu > 0) use = Math.max(use, (cap.gpu - state.free.gpu + job.resources.gpu) / cap.gpu);
    use = Math.min(1, use);
    const cpuUse = cap.cpu > 0 ? (cap.cpu - state.free.cpu) / cap.cpu : 0;
    const inputs = job.inputs ?? [];
    let heldCount = 0;
    for (const ref of inputs) if (state.held.has(ref)) heldCount += 1;
    const terms: Terms = {
      fit: policy === 'pack' ? use : 1 - use,
      load: 1 - Math.min(1, Math.max(0, state.node.load ?? cpuUse)),
      health: Math.min(1, Math.max(0, state.node.health ?? 1)),
      locality: inputs.length === 0 ? 0 : heldCount / inputs.length,
      affinity: affinityFor(this.affinity, state.node.nodeId, job.labels ?? [], now),
      cost: costTerm(state.node.costFactor),
    };
    return {
      nodeId: state.node.nodeId,
      terms,
      total: totalScore(terms, this.weights),
      tieBreak: seededHash(this.config.seed, job.jobId, state.node.nodeId),
    };
  }

  private staticFilter(job: CoreJob, state: NodeState): HardFilter | null {
    if (!state.schedulable) return 'health';
    if (!selectorMatches(job, state.node)) return 'labels';
    if (!fits(state.node.capacity, job.resources)) return 'capacity';
    return null;
  }

  private evaluate(
    job: CoreJob,
    now: number,
    endsAt: number,
    reserved: ReadonlyMap<string, Reserved>,
    explain: boolean,
  ): Evaluation {
    const policy = this.config.poolPolicies?.[job.pool] ?? 'spread';
    const candidates: CandidateScore[] = [];
    const filtered: { nodeId: string; filter: HardFilter }[] = [];
    let feasible = 0;
    let heldBack = 0;
    let heldFrom = Number.POSITIVE_INFINITY;
    let eligible = 0;
    const keep = job.nodes;
    const inPool = this.sortedPool(job.pool);
    for (const state of inPool) {
      let filter = this.staticFilter(job, state);
      if (filter === null) {
        feasible += 1;
        if (!fits(state.free, job.resources)) filter = 'resources';
        else {
          const hold = reserved.get(state.node.nodeId);
          if (
            hold &&
            hold.jobId !== job.jobId &&
            endsAt > hold.startsAt &&
            !fits(hold.slack, job.resources)
          ) {
            filter = 'reservation';
            heldBack += 1;
            heldFrom = Math.min(heldFrom, hold.startsAt);
          }
        }
      }
      if (filter !== null) {
        if (explain) filtered.push({ nodeId: state.node.nodeId, filter });
        continue;
      }
      eligible += 1;
      const scored = this.scoreNode(job, state, policy, now);
      if (explain) {
        candidates.push(scored);
        continue;
      }
      if (candidates.length < keep) {
        candidates.push(scored);
      } else if (compareCandidates(scored, candidates[candidates.length - 1]!) < 0) {
        // Only the best N matter when nothing is explained: an insertion into a short list.
        candidates[candidates.length - 1] = scored;
      } else continue;
      for (
        let i = candidates.length - 1;
        i > 0 && compareCandidates(candidates[i]!, candidates[i - 1]!) < 0;
        i -= 1
      ) {
        [candidates[i], candidates[i - 1]] = [candidates[i - 1]!, candidates[i]!];
      }
    }
    if (explain) candidates.sort(compareCandidates);
    return {
      eligible,
      candidates,
      filtered,
      feasible,
      heldBack,
      heldFrom,
      policy,
      outsidePool: this.nodes.size - inPool.length,
    };
  }

  private apply(
    job: CoreJob,
    nodeIds: readonly string[],
    now: number,
    runtimeMs: number,
    reserved: Map<string, Reserved>,
    poolPass: (pool: string) => PoolPass,
  ): void {
    const endsAt = now + runtimeMs;
    for (const nodeId of nodeIds) {
      const state = this.nodes.get(nodeId)!;
      const wasOpen = state.node.pools.map((pool) => this.isOpen(state, pool));
      state.free.cpu -= job.resources.cpu;
      state.free.memoryMiB -= job.resources.memoryMiB;
      state.free.gpu -= job.resources.gpu;
      state.allocations.add(job.jobId);
      state.releases = null;
      const hold = reserved.get(nodeId);
      if (hold && endsAt > hold.startsAt) {
        hold.slack.cpu -= job.resources.cpu;
        hold.slack.memoryMiB -= job.resources.memoryMiB;
        hold.slack.gpu -= job.resources.gpu;
      }
      state.node.pools.forEach((pool, i) => {
        if (wasOpen[i] && !this.isOpen(state, pool)) poolPass(pool).open -= 1;
      });
    }
    this.queued.delete(job.jobId);
    this.staleMinNeed.add(job.pool);
    this.allocations.set(job.jobId, {
      jobId: job.jobId,
      tenant: job.tenant,
      pool: job.pool,
      nodes: nodeIds,
      resources: job.resources,
      end: endsAt,
      startedAt: now,
    });
    this.addUsage(job.tenant, job.pool, job.resources, nodeIds.length);
  }

  /** When could `need` fit on this node, from the expected ends of what runs there? */
  private earliestFit(state: NodeState, need: Resources, now: number): number {
    if (fits(state.free, need)) return now;
    if (!state.releases) {
      state.releases = [...state.allocations]
        .map((jobId) => this.allocations.get(jobId))
        .filter((a): a is Allocation => a !== undefined)
        .map((a) => ({
          end: a.end ?? a.startedAt + this.defaultRuntimeMs,
          jobId: a.jobId,
          resources: a.resources,
        }))
        .sort((a, b) => a.end - b.end || compareStrings(a.jobId, b.jobId));
    }
    const releases = state.releases;
    const free = { ...state.free };
    const add = (release: Release): boolean => {
      free.cpu += release.resources.cpu;
      free.memoryMiB += release.resources.memoryMiB;
      free.gpu += release.resources.gpu;
      return fits(free, need);
    };
    // Overdue work (expected end passed) is taken to end at now + grace: it moves behind any work
    // due before then, so the sorted order is walked in that merged order.
    const grace = now + this.overdueGraceMs;
    let overdue = 0;
    while (overdue < releases.length && releases[overdue]!.end <= now) overdue += 1;
    let i = overdue;
    if (overdue > 0) {
      for (; i < releases.length && releases[i]!.end < grace; i += 1) {
        if (add(releases[i]!)) return releases[i]!.end;
      }
      let fit = false;
      for (let k = 0; k < overdue; k += 1) fit = add(releases[k]!) || fit;
      if (fit || fits(free, need)) return grace;
    }
    for (; i < releases.length; i += 1) {
      if (add(releases[i]!)) return releases[i]!.end;
    }
    return Number.POSITIVE_INFINITY;
  }

  /** Free resources on the node at time `at`, if running work ends as expected. */
  freeAt(nodeId: string, at: number, now: number): Resources {
    const state = this.nodes.get(nodeId)!;
    const free = { ...state.free };
    for (const jobId of state.allocations) {
      const allocation = this.allocations.get(jobId);
      if (!allocation || this.runtimeEnd(allocation, now) > at) continue;
      free.cpu += allocation.resources.cpu;
      free.memoryMiB += allocation.resources.memoryMiB;
      free.gpu += allocation.resources.gpu;
    }
    return free;
  }

  private reserve(job: CoreJob, now: number, reserved: Map<string, Reserved>): Reservation | null {
    const options: { nodeId: string; at: number; tie: number }[] = [];
    for (const state of this.sortedPool(job.pool)) {
      if (this.staticFilter(job, state) !== null || reserved.has(state.node.nodeId)) continue;
      const at = this.earliestFit(state, job.resources, now);
      if (Number.isFinite(at)) {
        options.push({
          nodeId: state.node.nodeId,
          at,
          tie: seededHash(this.config.seed, job.jobId, state.node.nodeId),
        });
      }
    }
    if (options.length < job.nodes) return null;
    options.sort((a, b) => a.at - b.at || b.tie - a.tie || compareStrings(a.nodeId, b.nodeId));
    const chosen = options.slice(0, job.nodes);
    const startsAt = chosen[chosen.length - 1]!.at;
    for (const { nodeId } of chosen) {
      const free = this.freeAt(nodeId, startsAt, now);
      reserved.set(nodeId, {
        jobId: job.jobId,
        startsAt,
        slack: {
          cpu: free.cpu - job.resources.cpu,
          memoryMiB: free.memoryMiB - job.resources.memoryMiB,
          gpu: free.gpu - job.resources.gpu,
        },
      });
    }
    return {
      tenant: job.tenant,
      jobId: job.jobId,
      pool: job.pool,
      startsAt,
      nodes: chosen.map((c) => c.nodeId).sort(compareStrings),
    };
  }

  /** A job's place in the fair-share order within its tenant: higher is earlier. */
  private keyOf(job: CoreJob): number {
    return job.priority - this.agingPerMs * job.enqueuedAt;
  }

  /**
   * Explaining a few jobs (a service's front of the queue and its placements), each one's place
   * is counted when asked: the entries ahead of it, O(its place) per heap, so a pass over a deep
   * queue does not sort it. Explaining all (or many), the queue is sorted once, up front.
   */
  private queuePositions(
    explaining: boolean,
    sortAll: boolean,
    outside: ReadonlyMap<string, ReadonlySet<Entry>>,
  ): QueuePositions {
    if (!explaining) return { of: () => 0 };
    if (!sortAll) {
      return {
        of: (job) => {
          const probe: Entry = { job, key: this.keyOf(job) };
          let ahead = 0;
          for (const entry of outside.get(job.tenant) ?? [])
            if (entryLess(entry, probe)) ahead += 1;
          for (const queue of this.queues.get(job.tenant)?.values() ?? [])
            ahead += queue.heap.countBefore(probe);
          return ahead + 1;
        },
      };
    }
    const positions = new Map<string, number>();
    for (const tenant of this.tenants) {
      const entries: Entry[] = [];
      for (const queue of this.queues.get(tenant)!.values()) entries.push(...queue.heap.values());
      entries.sort((a, b) => (entryLess(a, b) ? -1 : entryLess(b, a) ? 1 : 0));
      entries.forEach((entry, i) => positions.set(entry.job.jobId, i + 1));
    }
    return { of: (job) => positions.get(job.jobId) ?? 0 };
  }

  private placedExplanation(
    job: CoreJob,
    positions: QueuePositions,
    share: number,
    attempt: Evaluation,
    chosen: readonly CandidateScore[],
  ): Explanation {
    const winner = chosen[0]!;
    const runnerUp = attempt.candidates[job.nodes];
    const best = (Object.keys(winner.terms) as (keyof Terms)[])
      .map((term) => ({
        term,
        value: this.weights[term] * (winner.terms[term] - (runnerUp?.terms[term] ?? 0)),
      }))
      .sort((a, b) => b.value - a.value || compareStrings(a.term, b.term))[0]!;
    const why = runnerUp
      ? `${chosen.map((c) => c.nodeId).join(', ')} scored highest (${winner.total.toFixed(3)}); the best node left out, ${runnerUp.nodeId}, scored ${runnerUp.total.toFixed(3)}${
          runnerUp.total === chosen[chosen.length - 1]!.total
            ? ' (equal total: seeded tie-break)'
            : ''
        }; the term that helped ${winner.nodeId} most against it: ${best.term}`
      : `the only ${job.nodes} node(s) that passed the hard filters`;
    return {
      tenant: job.tenant,
      jobId: job.jobId,
      outcome: 'placed',
      queuePosition: positions.of(job),
      tenantShare: share,
      weights: this.weights,
      policy: attempt.policy,
      candidates: attempt.candidates,
      filtered: attempt.filtered,
      outsidePool: attempt.outsidePool,
      chosen: chosen.map((c) => c.nodeId),
      why,
      waitingFor: null,
    };
  }

  private waitingExplanation(
    job: CoreJob,
    positions: QueuePositions,
    share: number,
    waitingFor: WaitingFor,
    attempt: Evaluation | null,
    why: string,
  ): Explanation {
    return {
      tenant: job.tenant,
      jobId: job.jobId,
      outcome: 'waiting',
      queuePosition: positions.of(job),
      tenantShare: share,
      weights: this.weights,
      policy: this.config.poolPolicies?.[job.pool] ?? 'spread',
      candidates: attempt?.candidates ?? [],
      filtered: attempt?.filtered ?? [],
      outsidePool: attempt?.outsidePool ?? 0,
      chosen: [],
      why,
      waitingFor,
    };
  }
}

export interface SnapshotInput {
  readonly nodes: readonly CoreNode[];
  readonly jobs: readonly CoreJob[];
  readonly running: readonly RunningAllocation[];
  readonly now: number;
  readonly config: CoreConfig;
  readonly affinity?: AffinityTable;
  readonly options?: PassOptions;
}

/**
 * The pure function form: one pass over a snapshot. Input order does not matter (everything is
 * sorted by ids); duplicate ids are refused.
 */
export const schedulePass = (input: SnapshotInput): PassResult => {
  const core = new PlacementCore(input.config);
  const seen = new Set<string>();
  for (const node of input.nodes) {
    if (seen.has(node.nodeId))
      throw badInput(`node ${node.nodeId} appears twice`, { nodeId: node.nodeId });
    seen.add(node.nodeId);
    core.upsertNode(node);
  }
  for (const running of input.running) core.track(running);
  for (const job of input.jobs) core.enqueue(job);
  if (input.affinity) core.setAffinity(input.affinity);
  return core.schedule(input.now, input.options);
};
