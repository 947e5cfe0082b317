/**
 * The placement core (C1, C3): a pure function from a snapshot of nodes and a queue of jobs to
 * placement decisions. No I/O, no clock of its own: `now` is an input, so a pass replays the same.
 *
 * Rules, in the order they apply:
 *  - a job with `notBefore` after `now` is skipped (its retry backoff is not over);
 *  - jobs are considered by priority (high first), then queue time (old first), then job id, so
 *    two runs over the same snapshot decide the same;
 *  - a job is placed on exactly `nodes` distinct live nodes of its pool, each with enough free
 *    cpu, memory and gpu for one rank, or not at all (gang: all or none);
 *  - what a pass places counts against every later job of the same pass, so no node is ever
 *    over-committed;
 *  - a job that does not fit does not block the ones behind it (simple backfill: a reservation
 *    for the big job at the head comes with the fair-share scheduler, later).
 */
export interface Resources {
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly gpu: number;
}

export const NO_RESOURCES: Resources = { cpu: 0, memoryMiB: 0, gpu: 0 };

export type NodeLiveness = 'live' | 'lost';

export interface SchedulableNode {
  readonly nodeId: string;
  readonly pools: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly capacity: Resources;
  /** What the node's live (and in-flight) leases hold. */
  readonly used: Resources;
  readonly liveness: NodeLiveness;
}

export interface QueuedJob {
  readonly tenant: string;
  readonly jobId: string;
  readonly pool: string;
  /** Gang size: how many distinct nodes, one rank each. */
  readonly nodes: number;
  /** Per node (per rank). */
  readonly resources: Resources;
  readonly priority: number;
  /** Epoch milliseconds. */
  readonly queuedAt: number;
  /** Epoch milliseconds, or null when the job may be leased now. */
  readonly notBefore: number | null;
}

export interface RankPlacement {
  readonly nodeId: string;
  readonly rank: number;
}

export interface PlacementDecision {
  readonly tenant: string;
  readonly jobId: string;
  readonly nodes: readonly RankPlacement[];
}

export type UnplacedReason = 'not-before' | 'no-nodes-in-pool' | 'insufficient-nodes';

export interface UnplacedJob {
  readonly tenant: string;
  readonly jobId: string;
  readonly reason: UnplacedReason;
}

export interface PlacementInput {
  readonly nodes: readonly SchedulableNode[];
  readonly queue: readonly QueuedJob[];
  /** Epoch milliseconds. */
  readonly now: number;
}

export interface PlacementPass {
  readonly placed: readonly PlacementDecision[];
  /** Every job not placed, with the reason: what a status page shows for a waiting job. */
  readonly unplaced: readonly UnplacedJob[];
}

/** The order jobs are considered in; total, so the pass is deterministic. */
export const compareQueuedJobs = (a: QueuedJob, b: QueuedJob): number =>
  b.priority - a.priority ||
  a.queuedAt - b.queuedAt ||
  (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0) ||
  (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0);

interface NodeSlot {
  readonly node: SchedulableNode;
  free: { cpu: number; memoryMiB: number; gpu: number };
}

// Sub-core fractions add up in binary floating point (0.1 + 0.2); a tolerance keeps a node that
// is exactly full from being refused a rank that fits it exactly.
const EPSILON = 1e-9;

const fits = (free: Resources, need: Resources): boolean =>
  free.cpu + EPSILON >= need.cpu && free.memoryMiB >= need.memoryMiB && free.gpu >= need.gpu;

/**
 * Most free cpu first, then most free memory, then node id: spreads ranks over the pool and keeps
 * the choice deterministic.
 */
const compareSlots = (a: NodeSlot, b: NodeSlot): number =>
  b.free.cpu - a.free.cpu ||
  b.free.memoryMiB - a.free.memoryMiB ||
  (a.node.nodeId < b.node.nodeId ? -1 : a.node.nodeId > b.node.nodeId ? 1 : 0);

export const planPlacements = (input: PlacementInput): PlacementPass => {
  // Index live nodes by pool once per pass: a job only ever looks at its own pool.
  const byPool = new Map<string, NodeSlot[]>();
  const seen = new Set<string>();
  for (const node of input.nodes) {
    if (node.liveness !== 'live' || seen.has(node.nodeId)) continue;
    seen.add(node.nodeId);
    const slot: NodeSlot = {
      node,
      free: {
        cpu: node.capacity.cpu - node.used.cpu,
        memoryMiB: node.capacity.memoryMiB - node.used.memoryMiB,
        gpu: node.capacity.gpu - node.used.gpu,
      },
    };
    for (const pool of new Set(node.pools)) {
      const slots = byPool.get(pool) ?? [];
      slots.push(slot);
      byPool.set(pool, slots);
    }
  }

  const placed: PlacementDecision[] = [];
  const unplaced: UnplacedJob[] = [];
  const queue = [...input.queue].sort(compareQueuedJobs);
  for (const job of queue) {
    const who = { tenant: job.tenant, jobId: job.jobId };
    if (job.notBefore !== null && job.notBefore > input.now) {
      unplaced.push({ ...who, reason: 'not-before' });
      continue;
    }
    const slots = byPool.get(job.pool);
    if (!slots || slots.length === 0) {
      unplaced.push({ ...who, reason: 'no-nodes-in-pool' });
      continue;
    }
    const candidates = slots.filter((slot) => fits(slot.free, job.resources));
    if (job.nodes < 1 || candidates.length < job.nodes) {
      unplaced.push({ ...who, reason: 'insufficient-nodes' });
      continue;
    }
    candidates.sort(compareSlots);
    const chosen = candidates.slice(0, job.nodes);
    for (const slot of chosen) {
      slot.free = {
        cpu: slot.free.cpu - job.resources.cpu,
        memoryMiB: slot.free.memoryMiB - job.resources.memoryMiB,
        gpu: slot.free.gpu - job.resources.gpu,
      };
    }
    placed.push({
      ...who,
      nodes: chosen.map((slot, rank) => ({ nodeId: slot.node.nodeId, rank })),
    });
  }
  return { placed, unplaced };
};

export const addResources = (a: Resources, b: Resources): Resources => ({
  cpu: a.cpu + b.cpu,
  memoryMiB: a.memoryMiB + b.memoryMiB,
  gpu: a.gpu + b.gpu,
});

/**
 * The TCP port a gang's rank 0 listens on for its peers: derived from the job id (FNV-1a), so
 * every rank computes the same one and two gangs on one host rarely collide.
 */
export const coordinatorPort = (jobId: string): number => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < jobId.length; i += 1) {
    hash ^= jobId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return 29_500 + (hash % 1_000);
};
