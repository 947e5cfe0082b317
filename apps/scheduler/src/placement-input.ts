import {
  NO_RESOURCES,
  addResources,
  type CoreJob,
  type CoreNode,
  type Explanation,
  type PassResult,
  type PlacementDecision,
  type Resources,
  type RunningAllocation,
  type SnapshotInput,
} from '@gantry/scheduling';
import { type JobView } from './job-view';

/**
 * What the engine holds, turned into one snapshot for the placement core (schedulePass). Pure, so
 * the mapping and the policy it feeds (fair share, gangs, backfill) are unit-tested apart from NATS.
 */
export interface NodeFacts {
  readonly nodeId: string;
  readonly pools: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly capacity: Resources;
  readonly status: 'ready' | 'lost';
  /** C9: no new leases (an admin's cordon or drain, or a standing not read yet). */
  readonly cordoned?: boolean;
  /** C9: no new leases but a probe. */
  readonly quarantined?: boolean;
}

/** A lease command sent and not yet answered: it holds its nodes from the moment it was decided. */
export interface InFlightLease extends PlacementDecision {
  /** Epoch ms. */
  readonly at: number;
}

export interface PlacementState {
  readonly nodes: Iterable<NodeFacts>;
  readonly jobs: ReadonlyMap<string, JobView>;
  readonly queued: Iterable<string>;
  readonly leased: Iterable<string>;
  readonly inFlight: ReadonlyMap<string, InFlightLease>;
}

export interface SnapshotOptions {
  /** Epoch ms. */
  readonly now: number;
  readonly seed: number;
  readonly maxDecisions: number;
  /** How many waiting jobs (front of the queue first) a pass explains: explaining costs. */
  readonly explainLimit: number;
}

export const resourcesOf = (job: JobView | undefined): Resources => {
  const resources = job?.spec?.resources;
  return resources ? { ...resources, gpu: resources.gpu ?? 0 } : NO_RESOURCES;
};

const expectedEnd = (job: JobView, startedAt: number): number | null => {
  const seconds = job.spec?.expectedRuntimeSeconds;
  return seconds === undefined ? null : startedAt + seconds * 1_000;
};

/** A job whose spec is known: only such a job can be placed or hold nodes. */
export type PlacedJob = JobView & { readonly spec: NonNullable<JobView['spec']> };

export const hasSpec = (job: JobView | undefined): job is PlacedJob => !!job?.spec;

/** What a job holds on its nodes from `startedAt`, for the core. */
export const allocationOf = (
  job: PlacedJob,
  nodes: readonly string[],
  startedAt: number,
): RunningAllocation => ({
  jobId: job.jobId,
  tenant: job.tenant,
  pool: job.spec.pool,
  nodes,
  resources: resourcesOf(job),
  startedAt,
  expectedEnd: expectedEnd(job, startedAt),
});

/**
 * Live leases, then lease commands in flight. A job whose JobLeased event beat the lease reply is
 * in both: it is counted once (the core refuses a job twice, and the node would look fuller).
 */
export const runningAllocations = (state: PlacementState): RunningAllocation[] => {
  const running: RunningAllocation[] = [];
  const seen = new Set<string>();
  const add = (job: JobView, nodes: readonly string[], startedAt: number): void => {
    if (!hasSpec(job) || seen.has(job.jobId)) return;
    seen.add(job.jobId);
    running.push(allocationOf(job, nodes, startedAt));
  };
  for (const jobId of state.leased) {
    const job = state.jobs.get(jobId);
    if (job?.lease)
      add(
        job,
        job.lease.nodes.map((n) => n.nodeId),
        job.lease.leasedAt,
      );
  }
  for (const [jobId, lease] of state.inFlight) {
    const job = state.jobs.get(jobId);
    if (job)
      add(
        job,
        lease.nodes.map((n) => n.nodeId),
        lease.at,
      );
  }
  return running;
};

/** What the allocations hold on each node, and how many leases: the core's `used`, the read model's. */
export const usedByNode = (
  running: readonly RunningAllocation[],
): Map<string, { used: Resources; leases: number }> => {
  const used = new Map<string, { used: Resources; leases: number }>();
  for (const allocation of running) {
    for (const nodeId of allocation.nodes) {
      const was = used.get(nodeId) ?? { used: NO_RESOURCES, leases: 0 };
      used.set(nodeId, {
        used: addResources(was.used, allocation.resources),
        leases: was.leases + 1,
      });
    }
  }
  return used;
};

/** Queue order for choosing which waiting jobs to explain: priority, then age, then id. */
export const frontFirst = (a: CoreJob, b: CoreJob): number =>
  b.priority - a.priority ||
  a.enqueuedAt - b.enqueuedAt ||
  (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0);

/**
 * The node's `cost-factor` label (C5's cost term): what an hour there costs relative to its
 * pool's list price, set by the operator on the agent (GANTRY_LABELS). Anything that is not a
 * non-negative number is list price.
 */
export const COST_FACTOR_LABEL = 'cost-factor';
export const costFactorOf = (labels: Readonly<Record<string, string>>): number => {
  const value = Number(labels[COST_FACTOR_LABEL]);
  return labels[COST_FACTOR_LABEL] !== undefined && Number.isFinite(value) && value >= 0
    ? value
    : 1;
};

/** A node as the core sees it, with what the running allocations hold on it. */
export const coreNodeOf = (node: NodeFacts, used: Resources): CoreNode => ({
  nodeId: node.nodeId,
  pools: node.pools,
  labels: node.labels,
  capacity: node.capacity,
  used,
  lost: node.status === 'lost',
  cordoned: node.cordoned ?? false,
  quarantined: node.quarantined ?? false,
  costFactor: costFactorOf(node.labels),
});

/** A queued job as the core sees it. */
export const coreJobOf = (job: PlacedJob): CoreJob => ({
  tenant: job.tenant,
  jobId: job.jobId,
  pool: job.spec.pool,
  nodes: job.spec.nodes,
  resources: resourcesOf(job),
  priority: job.spec.priority,
  enqueuedAt: job.queuedAt,
  notBefore: job.notBefore,
  expectedRuntimeSeconds: job.spec.expectedRuntimeSeconds ?? null,
});

export const placementSnapshot = (
  state: PlacementState,
  options: SnapshotOptions,
): SnapshotInput => {
  const running = runningAllocations(state);
  const allocated = new Set(running.map((r) => r.jobId));
  const used = usedByNode(running);
  const nodes: CoreNode[] = [...state.nodes].map((node) =>
    coreNodeOf(node, used.get(node.nodeId)?.used ?? NO_RESOURCES),
  );
  const jobs: CoreJob[] = [];
  for (const jobId of state.queued) {
    const job = state.jobs.get(jobId);
    if (!hasSpec(job) || allocated.has(jobId)) continue;
    jobs.push(coreJobOf(job));
  }
  // Every tenant weighs the same until tenant weights are configured.
  const tenantWeights: Record<string, number> = {};
  for (const { tenant } of [...jobs, ...running]) tenantWeights[tenant] = 1;
  const explain = new Set(
    [...jobs]
      .sort(frontFirst)
      .slice(0, options.explainLimit)
      .map((job) => job.jobId),
  );
  return {
    nodes,
    jobs,
    running,
    now: options.now,
    config: { seed: options.seed, tenantWeights },
    options: { maxDecisions: options.maxDecisions, explain, explainPlaced: true },
  };
};

/** The explanations of the jobs a pass left waiting, by job id, at most `limit` of them. */
export const waitingExplanations = (pass: PassResult, limit: number): Map<string, Explanation> => {
  const waiting = new Map<string, Explanation>();
  for (const explanation of pass.explanations) {
    if (waiting.size >= limit) break;
    if (explanation.outcome === 'waiting') waiting.set(explanation.jobId, explanation);
  }
  return waiting;
};
