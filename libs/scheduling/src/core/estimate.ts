import {
  DEFAULT_OVERDUE_GRACE_SECONDS,
  DEFAULT_RUNTIME_SECONDS,
  PlacementCore,
  type SnapshotInput,
} from './core';
import { Heap } from './heap';
import { type CoreJob } from './types';

/**
 * C7: when each queued job would start if running work ends when it is expected to and nothing
 * new arrives. The core itself is run forward: a pass now, then one at every expected end (and at
 * every end of a retry backoff), each job it places holding its nodes for its expected runtime
 * (unknown: the default). So the estimate follows the same fair share, gangs, reservations and
 * backfill the real passes will; it is wrong exactly where runtimes are. Deterministic, like the
 * core. Bounded by `maxPasses` and `horizonMs`: a job not placed within them has no estimate,
 * rather than a guess.
 */
export interface EstimateLimits {
  readonly maxPasses: number;
  readonly horizonMs: number;
}

interface Ending {
  readonly at: number;
  readonly jobId: string;
}

/** Job id -> estimated start (epoch ms), for the jobs of `input.jobs` placed within the limits. */
export const estimateStarts = (
  input: SnapshotInput,
  limits: EstimateLimits,
): Map<string, number> => {
  const { config } = input;
  const defaultRuntimeMs = (config.defaultRuntimeSeconds ?? DEFAULT_RUNTIME_SECONDS) * 1_000;
  const graceMs = (config.overdueGraceSeconds ?? DEFAULT_OVERDUE_GRACE_SECONDS) * 1_000;
  const core = new PlacementCore(config);
  for (const node of input.nodes) core.upsertNode(node);
  if (input.affinity) core.setAffinity(input.affinity);
  const endings = new Heap<Ending>((a, b) => a.at < b.at || (a.at === b.at && a.jobId < b.jobId));
  for (const running of input.running) {
    core.track(running);
    const end = running.expectedEnd ?? running.startedAt + defaultRuntimeMs;
    endings.push({ at: end > input.now ? end : input.now + graceMs, jobId: running.jobId });
  }
  const queued = new Map<string, CoreJob>();
  for (const job of input.jobs) {
    core.enqueue(job);
    queued.set(job.jobId, job);
  }
  const started = new Map<string, number>();
  const until = input.now + limits.horizonMs;
  let now = input.now;
  for (let passes = 0; passes < limits.maxPasses && core.queueDepth > 0; passes += 1) {
    const pass = core.schedule(now);
    for (const decision of pass.decisions) {
      started.set(decision.jobId, now);
      const seconds = queued.get(decision.jobId)?.expectedRuntimeSeconds ?? null;
      endings.push({
        at: now + (seconds === null ? defaultRuntimeMs : seconds * 1_000),
        jobId: decision.jobId,
      });
    }
    if (core.queueDepth === 0) break;
    let next = endings.peek()?.at ?? Number.POSITIVE_INFINITY;
    if (pass.wakeAt !== null) next = Math.min(next, pass.wakeAt);
    // Nothing will end and no backoff will lapse: what still waits never starts in this pool.
    if (!Number.isFinite(next) || next > until) break;
    now = Math.max(now, next);
    while (endings.size > 0 && endings.peek()!.at <= now) core.release(endings.pop()!.jobId);
  }
  return started;
};
