import { type AffinityTable } from '../core/affinity';
import { PlacementCore } from '../core/core';
import { Heap } from '../core/heap';
import {
  type CoreConfig,
  type CoreJob,
  type CoreNode,
  type Decision,
  type PassResult,
} from '../core/types';

/**
 * A discrete-event simulator around the placement core: jobs arrive, the core places them, they
 * run for their actual runtime (which may differ from the expected one) and free their nodes. It
 * checks the invariants the core must keep on every decision, and measures what tests and the
 * benchmark need. Pure: no clock, no randomness; the caller's job list is the whole scenario.
 */
export interface SimJob extends CoreJob {
  /** Epoch milliseconds: when it enters the queue. */
  readonly arriveAt: number;
  readonly actualRuntimeSeconds: number;
}

export interface SimInput {
  readonly nodes: readonly CoreNode[];
  readonly jobs: readonly SimJob[];
  readonly config: CoreConfig;
  readonly start: number;
  /** Stop at this time (epoch ms) even if work is left. */
  readonly until: number;
  readonly affinity?: AffinityTable;
  /** Called after each pass: the benchmark and tests observe the core here. */
  readonly onPass?: (now: number, pass: PassResult, core: PlacementCore) => void;
  /** Called before each pass; lets the benchmark time it. */
  readonly runPass?: (core: PlacementCore, now: number) => PassResult;
}

export interface SimResult {
  readonly started: ReadonlyMap<string, { readonly at: number; readonly nodes: readonly string[] }>;
  readonly finished: ReadonlyMap<string, number>;
  /** Per tenant: integral of (cpu share in use) over time, in cpu-milliseconds, within [start, end]. */
  readonly cpuTime: ReadonlyMap<string, number>;
  readonly violations: readonly string[];
  readonly passes: number;
  readonly end: number;
}

type SimEvent =
  | { readonly at: number; readonly seq: number; readonly kind: 'arrive'; readonly job: SimJob }
  | { readonly at: number; readonly seq: number; readonly kind: 'finish'; readonly jobId: string }
  | { readonly at: number; readonly seq: number; readonly kind: 'wake' };

export const simulate = (input: SimInput): SimResult => {
  const core = new PlacementCore(input.config);
  if (input.affinity) core.setAffinity(input.affinity);
  const capacity = new Map<string, CoreNode>();
  const load = new Map<string, { cpu: number; memoryMiB: number; gpu: number }>();
  for (const node of input.nodes) {
    core.upsertNode(node);
    capacity.set(node.nodeId, node);
    load.set(node.nodeId, { ...node.used });
  }
  const jobs = new Map(input.jobs.map((job) => [job.jobId, job]));
  const events = new Heap<SimEvent>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  let seq = 0;
  const sorted = [...input.jobs].sort(
    (a, b) => a.arriveAt - b.arriveAt || (a.jobId < b.jobId ? -1 : 1),
  );
  for (const job of sorted) events.push({ at: job.arriveAt, seq: seq++, kind: 'arrive', job });

  const started = new Map<string, { at: number; nodes: readonly string[] }>();
  const finished = new Map<string, number>();
  const running = new Map<string, { tenant: string; cpu: number }>();
  const cpuTime = new Map<string, number>();
  const violations: string[] = [];
  let now = input.start;
  let passes = 0;

  const account = (until: number): void => {
    const dt = until - now;
    if (dt <= 0) return;
    for (const { tenant, cpu } of running.values())
      cpuTime.set(tenant, (cpuTime.get(tenant) ?? 0) + cpu * dt);
  };

  const check = (decision: Decision): void => {
    const job = jobs.get(decision.jobId);
    if (!job) {
      violations.push(`${decision.jobId}: placed but never submitted`);
      return;
    }
    const ids = decision.nodes.map((n) => n.nodeId);
    if (ids.length !== job.nodes || new Set(ids).size !== job.nodes) {
      violations.push(
        `${job.jobId}: gang of ${job.nodes} placed on ${ids.length} (distinct ${new Set(ids).size})`,
      );
    }
    if (started.has(job.jobId)) violations.push(`${job.jobId}: started twice`);
    for (const id of ids) {
      const node = capacity.get(id)!;
      if (!node.pools.includes(job.pool))
        violations.push(`${job.jobId}: on ${id}, outside pool ${job.pool}`);
      const used = load.get(id)!;
      used.cpu += job.resources.cpu;
      used.memoryMiB += job.resources.memoryMiB;
      used.gpu += job.resources.gpu;
      if (
        used.cpu > node.capacity.cpu + 1e-9 ||
        used.memoryMiB > node.capacity.memoryMiB + 1e-9 ||
        used.gpu > node.capacity.gpu + 1e-9
      ) {
        violations.push(`${job.jobId}: over-commits ${id}`);
      }
    }
  };

  while (events.size > 0) {
    const at = events.peek()!.at;
    if (at > input.until) break;
    account(at);
    now = at;
    while (events.size > 0 && events.peek()!.at === at) {
      const event = events.pop()!;
      if (event.kind === 'arrive') core.enqueue(event.job);
      else if (event.kind === 'finish') {
        core.release(event.jobId);
        finished.set(event.jobId, at);
        running.delete(event.jobId);
        const job = jobs.get(event.jobId)!;
        const start = started.get(event.jobId)!;
        for (const id of start.nodes) {
          const used = load.get(id)!;
          used.cpu -= job.resources.cpu;
          used.memoryMiB -= job.resources.memoryMiB;
          used.gpu -= job.resources.gpu;
        }
      }
    }
    const pass = input.runPass ? input.runPass(core, now) : core.schedule(now);
    passes += 1;
    for (const decision of pass.decisions) {
      check(decision);
      const job = jobs.get(decision.jobId);
      if (!job) continue;
      started.set(job.jobId, { at: now, nodes: decision.nodes.map((n) => n.nodeId) });
      running.set(job.jobId, { tenant: job.tenant, cpu: job.resources.cpu * job.nodes });
      events.push({
        at: now + job.actualRuntimeSeconds * 1_000,
        seq: seq++,
        kind: 'finish',
        jobId: job.jobId,
      });
    }
    if (pass.wakeAt !== null) events.push({ at: pass.wakeAt, seq: seq++, kind: 'wake' });
    input.onPass?.(now, pass, core);
  }
  // Stopped by `until` with work left: the run lasted until then, not until the last event.
  const end = events.size > 0 ? input.until : now;
  account(end);
  return { started, finished, cpuTime, violations, passes, end };
};
