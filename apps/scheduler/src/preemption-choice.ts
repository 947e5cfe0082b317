import {
  planPreemption,
  type PassResult,
  type PreemptibleAllocation,
  type PreemptionPlan,
  type SnapshotInput,
} from '@gantry/scheduling';
import { type JobView } from './job-view';

/**
 * Which preemptions a pass leads to (C6), pure. Per preemption pool at most one plan a pass, for
 * the highest-priority job the pass left waiting for capacity or a reservation; a pool where an
 * eviction is still under way gets none, so no job's victims are chosen twice and no pass piles a
 * second eviction onto nodes the first is still freeing.
 */
export interface PreemptionChoiceInput {
  readonly snapshot: SnapshotInput;
  readonly pass: PassResult;
  readonly jobs: ReadonlyMap<string, JobView>;
  readonly pools: ReadonlySet<string>;
  /** Pools with an eviction under way. */
  readonly busyPools: ReadonlySet<string>;
}

/** Why a waiting job may not preempt: it could not start on a free pool either, or must wait anyway. */
const NOT_FOR_CAPACITY = new Set(['never-fits', 'backoff', 'not-considered']);

export const choosePreemptions = (input: PreemptionChoiceInput): PreemptionPlan[] => {
  const { snapshot, pass, jobs, pools, busyPools } = input;
  if (pools.size === 0) return [];
  const placed = new Set(pass.decisions.map((d) => d.jobId));
  const why = new Map(pass.explanations.map((e) => [e.jobId, e.waitingFor]));
  const front = new Map<string, SnapshotInput['jobs'][number]>();
  for (const job of snapshot.jobs) {
    if (!pools.has(job.pool) || busyPools.has(job.pool) || placed.has(job.jobId)) continue;
    if (job.notBefore !== null && job.notBefore > snapshot.now) continue;
    const waitingFor = why.get(job.jobId);
    if (waitingFor && NOT_FOR_CAPACITY.has(waitingFor.kind)) continue;
    const best = front.get(job.pool);
    if (
      !best ||
      job.priority > best.priority ||
      (job.priority === best.priority &&
        (job.enqueuedAt < best.enqueuedAt ||
          (job.enqueuedAt === best.enqueuedAt && job.jobId < best.jobId)))
    )
      front.set(job.pool, job);
  }
  if (front.size === 0) return [];
  // Only attempts that hold a recorded lease and are not already stopping can be evicted.
  const running: PreemptibleAllocation[] = [];
  for (const allocation of snapshot.running) {
    const view = jobs.get(allocation.jobId);
    if (!view?.lease || !view.spec || view.preemptRequested || view.cancelRequested) continue;
    running.push({ ...allocation, priority: view.spec.priority });
  }
  const plans: PreemptionPlan[] = [];
  for (const pool of [...front.keys()].sort()) {
    const job = front.get(pool);
    if (!job) continue;
    const plan = planPreemption(job, snapshot.nodes, running, { pools });
    if (plan) plans.push(plan);
  }
  return plans;
};
