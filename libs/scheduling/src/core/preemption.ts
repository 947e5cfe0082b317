import { type Resources } from '../placement';
import { type CoreJob, type CoreNode, type RunningAllocation } from './types';

/**
 * Preemption (C6), pure. A queued job of a higher priority class that cannot start may evict
 * running jobs of strictly lower priority in its pool, when the pool allows it. The plan is the
 * cheapest set that lets the whole gang start now: lowest-priority victims first, then the fewest,
 * then the youngest (the least work lost). Victims are checkpointed and requeued by the service,
 * never counted as failures.
 *
 * No preemption loop: a victim's priority is strictly below its preemptor's, and priorities are
 * classes (aging never raises them here), so a requeued victim can never evict the job that
 * evicted it, nor anything of that job's class or above; along any chain of preemptions the
 * priority strictly falls, so chains end.
 */
export interface PreemptibleAllocation extends RunningAllocation {
  readonly priority: number;
}

export interface PreemptionPolicy {
  /** Pools where preemption is allowed; elsewhere a job waits like any other. */
  readonly pools: ReadonlySet<string>;
  /** A preemptor's priority must exceed a victim's by at least this much (default 1). */
  readonly minPriorityGap?: number;
}

export interface PreemptionPlan {
  readonly jobId: string;
  /** The running jobs to evict, in the order they were chosen. */
  readonly victims: readonly string[];
  /** The nodes the job will start on once they are gone (fit now, or freed by the victims). */
  readonly nodes: readonly string[];
}

const EPSILON = 1e-9;
const fits = (free: Resources, need: Resources): boolean =>
  free.cpu + EPSILON >= need.cpu && free.memoryMiB >= need.memoryMiB && free.gpu >= need.gpu;
const plus = (a: Resources, b: Resources): Resources => ({
  cpu: a.cpu + b.cpu,
  memoryMiB: a.memoryMiB + b.memoryMiB,
  gpu: a.gpu + b.gpu,
});
const minus = (a: Resources, b: Resources): Resources => ({
  cpu: a.cpu - b.cpu,
  memoryMiB: a.memoryMiB - b.memoryMiB,
  gpu: a.gpu - b.gpu,
});

/** Who goes first among victims: lowest priority, then youngest (latest start), then id. */
const victimOrder = (a: PreemptibleAllocation, b: PreemptibleAllocation): number =>
  a.priority - b.priority || b.startedAt - a.startedAt || (a.jobId < b.jobId ? -1 : 1);

const usable = (node: CoreNode, job: CoreJob): boolean =>
  node.pools.includes(job.pool) &&
  !node.cordoned &&
  !node.quarantined &&
  !node.lost &&
  fits(node.capacity, job.resources) &&
  Object.entries(job.nodeSelector ?? {}).every(([key, value]) => node.labels[key] === value);

interface NodeCost {
  readonly nodeId: string;
  readonly victims: readonly PreemptibleAllocation[];
}

/** Lexicographic: highest victim priority, then victim count, then the newest start, then id. */
const costOrder = (a: NodeCost, b: NodeCost): number => {
  const top = (c: NodeCost) => Math.max(-Infinity, ...c.victims.map((v) => v.priority));
  const newest = (c: NodeCost) => Math.max(-Infinity, ...c.victims.map((v) => v.startedAt));
  return (
    top(a) - top(b) ||
    a.victims.length - b.victims.length ||
    newest(b) - newest(a) ||
    (a.nodeId < b.nodeId ? -1 : 1)
  );
};

export const planPreemption = (
  job: CoreJob,
  nodes: readonly CoreNode[],
  running: readonly PreemptibleAllocation[],
  policy: PreemptionPolicy,
): PreemptionPlan | null => {
  if (!policy.pools.has(job.pool)) return null;
  const gap = policy.minPriorityGap ?? 1;
  const evictable = running
    .filter((r) => r.pool === job.pool && r.priority + gap <= job.priority)
    .sort(victimOrder);
  const costs: NodeCost[] = [];
  for (const node of nodes) {
    if (!usable(node, job)) continue;
    let free = minus(node.capacity, node.used);
    const victims: PreemptibleAllocation[] = [];
    for (const victim of evictable) {
      if (fits(free, job.resources)) break;
      if (!victim.nodes.includes(node.nodeId)) continue;
      victims.push(victim);
      free = plus(free, victim.resources);
    }
    if (fits(free, job.resources)) costs.push({ nodeId: node.nodeId, victims });
  }
  if (costs.length < job.nodes) return null;
  const chosen = costs.sort(costOrder).slice(0, job.nodes);
  // A gang victim spans nodes: it is evicted once, whichever chosen nodes it frees.
  const victims = [...new Map(chosen.flatMap((c) => c.victims).map((v) => [v.jobId, v])).values()];
  // Fits already without evicting anything: the pass places it; preemption is for when it cannot.
  if (victims.length === 0) return null;
  return {
    jobId: job.jobId,
    victims: victims.sort(victimOrder).map((v) => v.jobId),
    nodes: chosen.map((c) => c.nodeId).sort(),
  };
};
