import {
  NO_RESOURCES,
  PlacementCore,
  addResources,
  type CoreJob,
  type CoreNode,
  type PassResult,
  type Resources,
  type RunningAllocation,
  type SnapshotInput,
} from '@gantry/scheduling';
import { type JobView } from './job-view';
import {
  allocationOf,
  coreJobOf,
  coreNodeOf,
  frontFirst,
  hasSpec,
  type PlacementState,
} from './placement-input';

/**
 * One placement core kept across passes (C8), fed the engine's changes instead of rebuilt from a
 * snapshot each pass: building a core over a 10k queue costs ~150 ms, a pass on a kept one a few.
 *
 * The contract: `pass(state)` decides and explains exactly what
 * `schedulePass(placementSnapshot(state))` would (the differential spec holds it to that). The
 * engine reports every job whose view, queue or lease membership may have changed (its maps and
 * sets are `ObservedMap`/`ObservedSet`, so no write path can forget to); a pass then re-derives
 * only those jobs, compares each with what the core holds, and moves the core by the difference:
 * dequeue/enqueue, release/track. Node facts are few and are compared every pass; a node whose
 * facts or allocations changed is upserted again with its `used` summed afresh, so its free room
 * is what a fresh core would compute, not the sum of a history of increments.
 *
 * A pass moves the jobs it places from the queue to the core's own allocations. Those are taken
 * back at the next sync and re-derived from what the engine then holds: a lease in flight, a live
 * lease, or (lease refused, or the decision dropped for a probe) the queue again.
 *
 * Bit-for-bit equality with a fresh core holds when resource sums are exact in binary (whole
 * numbers, halves, quarters...). A fraction such as 0.1 cpu can make a sum differ in its last bit
 * (added in another order), which can only turn an exact tie between two scores or two shares
 * the other way; the snapshot already summed in the order of its sets.
 */

/** What the engine holds; `PlacementState` with the membership tests a per-job sync needs. */
export interface LivePlacementState extends PlacementState {
  readonly queued: ReadonlySet<string>;
  readonly leased: ReadonlySet<string>;
}

export interface IncrementalPassOptions {
  /** Epoch ms. */
  readonly now: number;
  readonly maxDecisions: number;
  /** How many waiting jobs (front of the queue first) the pass explains. */
  readonly explainLimit: number;
  /** Also return the snapshot a from-scratch pass would have taken (preemption reads it). */
  readonly withInput?: boolean;
}

export interface IncrementalPass {
  readonly pass: PassResult;
  readonly input: SnapshotInput | null;
}

export interface IncrementalPlacementOptions {
  readonly seed: number;
  /** A queued job the core refuses (a gang of 0 nodes, ...): it stays out until it changes. */
  readonly onRefused?: (jobId: string, error: unknown) => void;
}

/**
 * Beyond this many changes between two passes (a standby replica that never passes, a burst of
 * submissions) the feeder stops listing them and rebuilds from the whole state at the next pass:
 * the list stays bounded, and the rebuild costs what one snapshot pass did.
 */
const REBUILD_AFTER_CHANGES = 4_096;

const sameResources = (a: Resources, b: Resources): boolean =>
  a.cpu === b.cpu && a.memoryMiB === b.memoryMiB && a.gpu === b.gpu;

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((value, i) => value === b[i]);

const sameAllocation = (a: RunningAllocation, b: RunningAllocation): boolean =>
  a.tenant === b.tenant &&
  a.pool === b.pool &&
  a.startedAt === b.startedAt &&
  a.expectedEnd === b.expectedEnd &&
  sameResources(a.resources, b.resources) &&
  sameList(a.nodes, b.nodes);

const sameJob = (a: CoreJob, b: CoreJob): boolean =>
  a.tenant === b.tenant &&
  a.pool === b.pool &&
  a.nodes === b.nodes &&
  a.priority === b.priority &&
  a.enqueuedAt === b.enqueuedAt &&
  a.notBefore === b.notBefore &&
  a.expectedRuntimeSeconds === b.expectedRuntimeSeconds &&
  sameResources(a.resources, b.resources);

const sameLabels = (
  a: Readonly<Record<string, string>>,
  b: Readonly<Record<string, string>>,
): boolean => {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
};

const sameNode = (a: CoreNode, b: CoreNode): boolean =>
  a.lost === b.lost &&
  a.cordoned === b.cordoned &&
  a.quarantined === b.quarantined &&
  a.costFactor === b.costFactor &&
  sameResources(a.capacity, b.capacity) &&
  sameResources(a.used, b.used) &&
  sameList(a.pools, b.pools) &&
  sameLabels(a.labels, b.labels);

/** What the job holds, as `runningAllocations` derives it: a live lease first, else one in flight. */
const heldBy = (state: LivePlacementState, job: JobView | undefined): RunningAllocation | null => {
  if (!hasSpec(job)) return null;
  if (job.lease && state.leased.has(job.jobId))
    return allocationOf(
      job,
      job.lease.nodes.map((n) => n.nodeId),
      job.lease.leasedAt,
    );
  const flight = state.inFlight.get(job.jobId);
  return flight
    ? allocationOf(
        job,
        flight.nodes.map((n) => n.nodeId),
        flight.at,
      )
    : null;
};

/** Where `job` goes in a list kept in `frontFirst` order (job ids are unique: a total order). */
const frontIndex = (list: readonly CoreJob[], job: CoreJob): number => {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (frontFirst(list[mid]!, job) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};

export class IncrementalPlacement {
  private core: PlacementCore;
  /** Jobs whose view or membership may have changed since the last sync. */
  private readonly changed = new Set<string>();
  /** The next sync starts over from the whole state (a fresh core). */
  private rebuild = true;
  // Mirrors of what the core holds, as the snapshot would have derived it.
  private readonly queuedJobs = new Map<string, CoreJob>();
  /** The queued jobs in `frontFirst` order: the ones a pass explains are its head. */
  private readonly front: CoreJob[] = [];
  private readonly running = new Map<string, RunningAllocation>();
  /** Node id -> the tracked allocations on it (nodes the core does not know included). */
  private readonly onNode = new Map<string, Set<string>>();
  private readonly nodes = new Map<string, CoreNode>();
  /** Jobs the last pass placed, held by the core as its own allocation until the next sync. */
  private readonly placed = new Map<string, readonly string[]>();
  private nodeOrder: readonly string[] = [];

  constructor(private readonly options: IncrementalPlacementOptions) {
    this.core = new PlacementCore({ seed: options.seed });
  }

  /** The job's view, or whether it is queued, leased or in flight, may have changed. */
  jobChanged(jobId: string): void {
    if (this.rebuild) return;
    this.changed.add(jobId);
    if (this.changed.size > REBUILD_AFTER_CHANGES) this.startOver();
  }

  /** Forget everything: the next pass rebuilds the core from the whole state. */
  startOver(): void {
    this.rebuild = true;
    this.changed.clear();
  }

  /** Brings the core in line with `state`, then runs one pass on it. */
  pass(state: LivePlacementState, options: IncrementalPassOptions): IncrementalPass {
    this.sync(state);
    const input = options.withInput ? this.input(options.now) : null;
    const explain = new Set<string>();
    for (const job of this.front) {
      if (explain.size >= options.explainLimit) break;
      explain.add(job.jobId);
    }
    let pass: PassResult;
    try {
      pass = this.core.schedule(options.now, {
        maxDecisions: options.maxDecisions,
        explain,
        explainPlaced: true,
      });
    } catch (err) {
      // The core's state is not known to match the mirrors any more.
      this.startOver();
      throw err;
    }
    for (const decision of pass.decisions) {
      const job = this.queuedJobs.get(decision.jobId);
      if (job) this.unqueue(job);
      this.placed.set(
        decision.jobId,
        decision.nodes.map((n) => n.nodeId),
      );
      this.changed.add(decision.jobId);
    }
    return { pass, input };
  }

  /** The snapshot a from-scratch pass would take of the state last synced. */
  private input(now: number): SnapshotInput {
    const jobs = [...this.queuedJobs.values()];
    const running = [...this.running.values()];
    const tenantWeights: Record<string, number> = {};
    for (const { tenant } of [...jobs, ...running]) tenantWeights[tenant] = 1;
    return {
      nodes: this.nodeOrder.map((nodeId) => this.nodes.get(nodeId)!),
      jobs,
      running,
      now,
      config: { seed: this.options.seed, tenantWeights },
    };
  }

  private sync(state: LivePlacementState): void {
    if (this.rebuild) this.restart(state);
    const touched = new Set<string>();
    const facts = [...state.nodes];
    this.nodeOrder = facts.map((fact) => fact.nodeId);
    const present = new Set(this.nodeOrder);
    for (const nodeId of [...this.nodes.keys()]) {
      if (present.has(nodeId)) continue;
      this.core.removeNode(nodeId);
      this.nodes.delete(nodeId);
    }
    for (const fact of facts) {
      if (this.nodes.has(fact.nodeId)) continue;
      // A node new to the core lists only the allocations tracked after it: track again those
      // already on it (a fresh core tracks after every node is in).
      this.upsert(coreNodeOf(fact, NO_RESOURCES));
      touched.add(fact.nodeId);
      for (const jobId of this.onNode.get(fact.nodeId) ?? []) {
        const allocation = this.running.get(jobId)!;
        this.core.release(jobId);
        this.core.track(allocation);
        for (const nodeId of allocation.nodes) touched.add(nodeId);
      }
    }
    for (const jobId of this.changed) this.syncJob(state, jobId, touched);
    this.changed.clear();
    for (const fact of facts) {
      const had = this.nodes.get(fact.nodeId)!;
      const node = coreNodeOf(fact, touched.has(fact.nodeId) ? this.usedOn(fact.nodeId) : had.used);
      // Touched: its free room moved by increments; upserting sets it from `used` again.
      if (touched.has(fact.nodeId) || !sameNode(had, node)) this.upsert(node);
    }
  }

  /** A fresh core, every job of the state to be derived. */
  private restart(state: LivePlacementState): void {
    this.rebuild = false;
    this.core = new PlacementCore({ seed: this.options.seed });
    this.queuedJobs.clear();
    this.front.length = 0;
    this.running.clear();
    this.onNode.clear();
    this.nodes.clear();
    this.placed.clear();
    this.changed.clear();
    for (const jobId of state.jobs.keys()) this.changed.add(jobId);
    for (const jobId of state.queued) this.changed.add(jobId);
    for (const jobId of state.leased) this.changed.add(jobId);
    for (const jobId of state.inFlight.keys()) this.changed.add(jobId);
  }

  private syncJob(state: LivePlacementState, jobId: string, touched: Set<string>): void {
    const view = state.jobs.get(jobId);
    const held = heldBy(state, view);
    const queued =
      held === null && hasSpec(view) && state.queued.has(jobId) ? coreJobOf(view) : null;
    const placedOn = this.placed.get(jobId);
    if (placedOn) {
      this.placed.delete(jobId);
      this.core.release(jobId);
      for (const nodeId of placedOn) touched.add(nodeId);
    }
    const had = this.running.get(jobId);
    if (had && !(held && sameAllocation(had, held))) {
      this.core.release(jobId);
      this.running.delete(jobId);
      for (const nodeId of had.nodes) {
        touched.add(nodeId);
        const on = this.onNode.get(nodeId);
        on?.delete(jobId);
        if (on?.size === 0) this.onNode.delete(nodeId);
      }
    }
    const wasQueued = this.queuedJobs.get(jobId);
    if (wasQueued && !(queued && sameJob(wasQueued, queued))) {
      this.core.dequeue(jobId);
      this.unqueue(wasQueued);
    }
    if (held && !this.running.has(jobId)) {
      this.core.track(held);
      this.running.set(jobId, held);
      for (const nodeId of held.nodes) {
        touched.add(nodeId);
        let on = this.onNode.get(nodeId);
        if (!on) {
          on = new Set();
          this.onNode.set(nodeId, on);
        }
        on.add(jobId);
      }
    }
    if (queued && !this.queuedJobs.has(jobId)) {
      try {
        this.core.enqueue(queued);
      } catch (err) {
        this.options.onRefused?.(jobId, err);
        return;
      }
      this.queuedJobs.set(jobId, queued);
      this.front.splice(frontIndex(this.front, queued), 0, queued);
    }
  }

  private unqueue(job: CoreJob): void {
    this.queuedJobs.delete(job.jobId);
    const at = frontIndex(this.front, job);
    if (this.front[at]?.jobId === job.jobId) this.front.splice(at, 1);
  }

  private upsert(node: CoreNode): void {
    this.core.upsertNode(node);
    this.nodes.set(node.nodeId, node);
  }

  private usedOn(nodeId: string): Resources {
    let used = NO_RESOURCES;
    for (const jobId of this.onNode.get(nodeId) ?? [])
      used = addResources(used, this.running.get(jobId)!.resources);
    return used;
  }
}

/** A Map that reports every key written or deleted: the feeder's change list. */
export class ObservedMap<K, V> extends Map<K, V> {
  constructor(private readonly onChange: (key: K) => void) {
    super();
  }

  override set(key: K, value: V): this {
    this.onChange(key);
    return super.set(key, value);
  }

  override delete(key: K): boolean {
    this.onChange(key);
    return super.delete(key);
  }

  override clear(): void {
    for (const key of this.keys()) this.onChange(key);
    super.clear();
  }
}

/** A Set that reports every member added or deleted. */
export class ObservedSet<T> extends Set<T> {
  constructor(private readonly onChange: (value: T) => void) {
    super();
  }

  override add(value: T): this {
    this.onChange(value);
    return super.add(value);
  }

  override delete(value: T): boolean {
    this.onChange(value);
    return super.delete(value);
  }

  override clear(): void {
    for (const value of this.values()) this.onChange(value);
    super.clear();
  }
}
