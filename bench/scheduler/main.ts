import { performance } from 'node:perf_hooks';
import {
  PlacementCore,
  planPlacements,
  seededRandom,
  type CoreConfig,
  type CoreJob,
  type CoreNode,
  type Decision,
  type PassSink,
  type QueuedJob,
  type SchedulableNode,
} from '@gantry/scheduling';

/**
 * The placement core's speed (issue 5, C8): 1k nodes in 4 pools, 10k / 50k / 100k queued jobs of
 * mixed shapes (10 % gangs) from 50 tenants, one core (this process, one thread).
 *
 * Steady state, as the service would run it: the cluster starts ~85 % full; each event is one
 * running job ending, after which the core runs a pass and places what now fits; new jobs arrive
 * as fast as jobs start, so the queue stays at its depth. A decision's latency is the time from
 * the start of its pass (or the previous decision in the same pass) to the decision: the work the
 * core spends to produce it, including skipping jobs that do not fit. Pass latency (event to
 * last decision) is printed too.
 *
 * Baselines in the same run, on the same snapshot: the old `planPlacements` (sort the whole queue,
 * scan every job: what the scheduler app does today) and building the new core from scratch per
 * pass (what a stateless caller would pay). Both are O(queue) per pass.
 *
 * Usage: node tools/run.js bench/scheduler/main.ts [decisions per size] [sizes, comma-separated]
 */
const DECISIONS = Number(process.argv[2] ?? 3_000);
const SIZES = (process.argv[3] ?? '10000,50000,100000').split(',').map(Number);
const TENANTS = 50;
const T0 = Date.parse('2026-11-23T12:00:00.000Z');
const GIB = 1_024;

interface PoolSpec {
  readonly name: string;
  readonly nodes: number;
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly gpu: number;
  readonly extraPools: readonly string[];
}

const POOLS: readonly PoolSpec[] = [
  { name: 'cpu', nodes: 400, cpu: 32, memoryMiB: 128 * GIB, gpu: 0, extraPools: [] },
  // Some big-memory nodes also serve the cpu pool: a node can be in several pools (C1).
  { name: 'himem', nodes: 200, cpu: 16, memoryMiB: 512 * GIB, gpu: 0, extraPools: ['cpu'] },
  { name: 'gpu', nodes: 200, cpu: 32, memoryMiB: 256 * GIB, gpu: 8, extraPools: [] },
  { name: 'hbw', nodes: 200, cpu: 64, memoryMiB: 256 * GIB, gpu: 0, extraPools: [] },
];

const config: CoreConfig = {
  seed: 42,
  tenantWeights: Object.fromEntries(
    Array.from({ length: TENANTS }, (_, i) => [`tenant-${i}`, 1 + (i % 3)]),
  ),
  poolPolicies: { cpu: 'spread', himem: 'spread', gpu: 'pack', hbw: 'pack' },
};

const makeNodes = (): CoreNode[] => {
  const nodes: CoreNode[] = [];
  for (const pool of POOLS) {
    for (let i = 0; i < pool.nodes; i += 1) {
      nodes.push({
        nodeId: `${pool.name}-${String(i).padStart(4, '0')}`,
        pools: [pool.name, ...(i % 2 === 0 ? pool.extraPools : [])],
        labels: { pool: pool.name, zone: `z${i % 4}` },
        capacity: { cpu: pool.cpu, memoryMiB: pool.memoryMiB, gpu: pool.gpu },
        used: { cpu: 0, memoryMiB: 0, gpu: 0 },
        health: i % 17 === 0 ? 0.6 : 1,
        heldInputs: [`file-${i % 50}`],
      });
    }
  }
  return nodes;
};

const makeJobFactory = (seed: number) => {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  let next = 0;
  return (at: number): CoreJob => {
    const id = next++;
    const poolName = pick(['cpu', 'cpu', 'cpu', 'himem', 'gpu', 'hbw']);
    const pool = POOLS.find((p) => p.name === poolName)!;
    const gang = random() < 0.1;
    return {
      tenant: `tenant-${Math.floor(random() * TENANTS)}`,
      jobId: `job-${String(id).padStart(7, '0')}`,
      pool: pool.name,
      nodes: gang ? pick([2, 4, 8, 16]) : 1,
      resources: {
        cpu: Math.min(pool.cpu, pick([1, 2, 4, 8])),
        memoryMiB: pick([2, 4, 8, 16]) * GIB * (pool.name === 'himem' ? 8 : 1),
        gpu: pool.gpu > 0 ? pick([1, 2, 4]) : 0,
      },
      priority: pick([0, 0, 0, 10, 50]),
      enqueuedAt: at - Math.floor(random() * 3_600_000),
      notBefore: random() < 0.02 ? at + 60_000 : null,
      expectedRuntimeSeconds: random() < 0.1 ? null : 60 + Math.floor(random() * 3_540),
      inputs: random() < 0.2 ? [`file-${Math.floor(random() * 50)}`] : [],
      labels: [pick(['train', 'etl', 'sim', 'render'])],
      nodeSelector: random() < 0.05 ? { zone: `z${Math.floor(random() * 4)}` } : undefined,
    };
  };
};

const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

const fmt = (ms: number): string =>
  ms < 1 ? `${(ms * 1_000).toFixed(0)} us` : `${ms.toFixed(2)} ms`;

interface SizeResult {
  readonly size: number;
  readonly decisions: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly perSecond: number;
  readonly passP50: number;
  readonly passP99: number;
  readonly buildMs: number;
  readonly oldPassMs: number;
  readonly oldDecisions: number;
  readonly freshPassMs: number;
  readonly firstPassMs: number;
  readonly firstDecisions: number;
  readonly queueAtEnd: number;
  readonly service: ServiceResult;
}

interface ServiceResult {
  readonly events: number;
  readonly p50: number;
  readonly p99: number;
  readonly quietP50: number;
}

const runSize = (size: number): SizeResult => {
  const nodes = makeNodes();
  const newJob = makeJobFactory(size);
  const core = new PlacementCore(config);
  for (const node of nodes) core.upsertNode(node);

  // Fill the cluster to ~85 % with running work, so the queue is deep and passes are contended.
  const fill = new PlacementCore(config);
  for (const node of nodes) fill.upsertNode(node);
  const filler = makeJobFactory(size + 1);
  const running: { jobId: string; job: CoreJob; nodes: string[]; end: number }[] = [];
  const fillRandom = seededRandom(size + 2);
  const fillerJobs = new Map<string, CoreJob>();
  for (let i = 0; i < 20_000; i += 1) {
    const job = { ...filler(T0), jobId: `run-${i}`, notBefore: null, nodeSelector: undefined };
    fillerJobs.set(job.jobId, job);
    fill.enqueue(job);
  }
  const fillPass = fill.schedule(T0);
  for (const decision of fillPass.decisions) {
    if (fillRandom() < 0.15) continue;
    const job = fillerJobs.get(decision.jobId)!;
    const end = T0 + Math.floor(fillRandom() * 3_600_000) + 1_000;
    core.track(
      {
        jobId: decision.jobId,
        tenant: decision.tenant,
        pool: decision.pool,
        nodes: decision.nodes.map((n) => n.nodeId),
        resources: job.resources,
        startedAt: T0 - 60_000,
        expectedEnd: end,
      },
      true,
    );
    running.push({ jobId: decision.jobId, job, nodes: decision.nodes.map((n) => n.nodeId), end });
  }

  const byId = new Map<string, CoreJob>();
  const buildStart = performance.now();
  for (let i = 0; i < size; i += 1) {
    const job = newJob(T0);
    byId.set(job.jobId, job);
    core.enqueue(job);
  }
  const buildMs = performance.now() - buildStart;

  // Baselines on the same snapshot: the old pass and a fresh core per pass.
  const snapshotNodes = nodesWithUse(nodes, running);
  const snapshotQueue = queuedJobs([...byId.values()]);
  const oldStart = performance.now();
  const oldPass = planPlacements({ nodes: snapshotNodes, queue: snapshotQueue, now: T0 });
  const oldPassMs = performance.now() - oldStart;
  const freshStart = performance.now();
  const fresh = new PlacementCore(config);
  for (const node of nodes) fresh.upsertNode(node);
  for (const r of running) {
    fresh.track(
      {
        jobId: r.jobId,
        tenant: r.job.tenant,
        pool: r.job.pool,
        nodes: r.nodes,
        resources: r.job.resources,
        startedAt: T0 - 60_000,
        expectedEnd: r.end,
      },
      true,
    );
  }
  for (const job of snapshotQueue) fresh.enqueue(toCoreJob(job));
  fresh.schedule(T0);
  const freshPassMs = performance.now() - freshStart;

  // The first pass fills the free room left by the fill (~15 %): timed apart, not steady state.
  const firstStart = performance.now();
  const first = core.schedule(T0);
  const firstPassMs = performance.now() - firstStart;
  const firstEnds: { jobId: string; job: CoreJob; nodes: string[]; end: number }[] = [];
  for (const decision of first.decisions) {
    const job = byId.get(decision.jobId)!;
    byId.delete(decision.jobId);
    firstEnds.push({
      jobId: decision.jobId,
      job,
      nodes: decision.nodes.map((n) => n.nodeId),
      end: T0 + (job.expectedRuntimeSeconds ?? 1_800) * 1_000,
    });
    const arrival = newJob(T0);
    byId.set(arrival.jobId, arrival);
    core.enqueue(arrival);
  }
  running.push(...firstEnds);

  // Steady state: one job ends, one pass, new arrivals keep the queue at its depth.
  const endings = [...running].sort((a, b) => a.end - b.end || (a.jobId < b.jobId ? -1 : 1));
  const latencies: number[] = [];
  const passes: number[] = [];
  let now = T0;
  let decided = 0;
  let busyMs = 0;
  while (decided < DECISIONS && endings.length > 0) {
    const ending = endings.shift()!;
    now = Math.max(now, ending.end);
    core.release(ending.jobId);
    const sink: PassSink = { reservations: [], explanations: [], considered: 0, wakeAt: null };
    const iterator = core.passIterator(now, {}, sink);
    const passStart = performance.now();
    let last = passStart;
    const placed: Decision[] = [];
    for (;;) {
      const step = iterator.next();
      const t = performance.now();
      if (step.done) break;
      latencies.push(t - last);
      last = t;
      placed.push(step.value);
    }
    const passMs = performance.now() - passStart;
    passes.push(passMs);
    busyMs += passMs;
    for (const decision of placed) {
      decided += 1;
      const job = byId.get(decision.jobId)!;
      byId.delete(decision.jobId);
      // Jobs run as long as they said they would (unknown: 30 min).
      const runtime = (job.expectedRuntimeSeconds ?? 1_800) * 1_000;
      insertSorted(endings, {
        jobId: decision.jobId,
        job,
        nodes: decision.nodes.map((n) => n.nodeId),
        end: now + runtime,
      });
      const arrival = newJob(now);
      byId.set(arrival.jobId, arrival);
      core.enqueue(arrival);
    }
  }
  latencies.sort((a, b) => a - b);
  passes.sort((a, b) => a - b);
  const service = servicePasses(core, endings, byId, newJob, now);
  return {
    size,
    decisions: latencies.length,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies[latencies.length - 1] ?? NaN,
    perSecond: latencies.length / (busyMs / 1_000),
    passP50: percentile(passes, 0.5),
    passP99: percentile(passes, 0.99),
    buildMs,
    oldPassMs,
    oldDecisions: oldPass.placed.length,
    freshPassMs,
    firstPassMs,
    firstDecisions: first.decisions.length,
    queueAtEnd: core.queueDepth,
    service,
  };
};

/** The scheduler service's queue order for the waiting jobs it explains (placement-input.ts). */
const frontFirst = (a: CoreJob, b: CoreJob): number =>
  b.priority - a.priority ||
  a.enqueuedAt - b.enqueuedAt ||
  (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0);

/**
 * The kept core driven as the scheduler service drives it since C8 (one core fed by its
 * IncrementalPlacement): per event, a running job ends, a job arrives, and a pass runs with the
 * service's options (at most 64 decisions; the 256 front jobs and every placement explained);
 * each decision is taken back from the core and tracked again as the lease the service sends.
 * Timed: the changes and the pass. The service's node re-upserts (a few per event) are left out:
 * here nodes carry no `used`. Also timed apart: the same passes without waiting explanations.
 */
const servicePasses = (
  core: PlacementCore,
  endings: { jobId: string; job: CoreJob; nodes: string[]; end: number }[],
  byId: Map<string, CoreJob>,
  newJob: (at: number) => CoreJob,
  start: number,
): ServiceResult => {
  const events = Math.min(DECISIONS, 300);
  const times: number[] = [];
  const quiet: number[] = [];
  let now = start;
  for (let i = 0; i < 2 * events && endings.length > 0; i += 1) {
    const explaining = i % 2 === 0;
    // What the service keeps sorted as jobs come and go; not timed.
    const explain = new Set(
      [...byId.values()]
        .sort(frontFirst)
        .slice(0, explaining ? 256 : 0)
        .map((job) => job.jobId),
    );
    const ending = endings.shift()!;
    now = Math.max(now, ending.end);
    const arrival = newJob(now);
    const t0 = performance.now();
    core.release(ending.jobId);
    byId.set(arrival.jobId, arrival);
    core.enqueue(arrival);
    const pass = core.schedule(now, { maxDecisions: 64, explain, explainPlaced: true });
    for (const decision of pass.decisions) {
      const job = byId.get(decision.jobId)!;
      byId.delete(decision.jobId);
      const nodes = decision.nodes.map((n) => n.nodeId);
      const expectedEnd = now + (job.expectedRuntimeSeconds ?? 1_800) * 1_000;
      core.release(decision.jobId);
      core.track({ ...job, nodes, startedAt: now, expectedEnd }, true);
      insertSorted(endings, { jobId: decision.jobId, job, nodes, end: expectedEnd });
    }
    (explaining ? times : quiet).push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  quiet.sort((a, b) => a - b);
  return {
    events: times.length,
    p50: percentile(times, 0.5),
    p99: percentile(times, 0.99),
    quietP50: percentile(quiet, 0.5),
  };
};

const insertSorted = <T extends { end: number; jobId: string }>(list: T[], item: T): void => {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const m = list[mid]!;
    if (m.end < item.end || (m.end === item.end && m.jobId < item.jobId)) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, item);
};

const nodesWithUse = (
  nodes: readonly CoreNode[],
  running: readonly { job: CoreJob; nodes: readonly string[] }[],
): SchedulableNode[] => {
  const used = new Map<string, { cpu: number; memoryMiB: number; gpu: number }>();
  for (const r of running) {
    for (const id of r.nodes) {
      const u = used.get(id) ?? { cpu: 0, memoryMiB: 0, gpu: 0 };
      u.cpu += r.job.resources.cpu;
      u.memoryMiB += r.job.resources.memoryMiB;
      u.gpu += r.job.resources.gpu;
      used.set(id, u);
    }
  }
  return nodes.map((n) => ({
    nodeId: n.nodeId,
    pools: n.pools,
    labels: n.labels,
    capacity: n.capacity,
    used: used.get(n.nodeId) ?? { cpu: 0, memoryMiB: 0, gpu: 0 },
    liveness: 'live',
  }));
};

const queuedJobs = (jobs: readonly CoreJob[]): QueuedJob[] =>
  jobs.map((job) => ({
    tenant: job.tenant,
    jobId: job.jobId,
    pool: job.pool,
    nodes: job.nodes,
    resources: job.resources,
    priority: job.priority,
    queuedAt: job.enqueuedAt,
    notBefore: job.notBefore,
  }));

const toCoreJob = (job: QueuedJob): CoreJob => ({
  tenant: job.tenant,
  jobId: job.jobId,
  pool: job.pool,
  nodes: job.nodes,
  resources: job.resources,
  priority: job.priority,
  enqueuedAt: job.queuedAt,
  notBefore: job.notBefore,
  expectedRuntimeSeconds: null,
});

const main = (): void => {
  console.log(
    `scheduler core: ${POOLS.reduce((n, p) => n + p.nodes, 0)} nodes in ${POOLS.length} pools, ${TENANTS} tenants, 10 % gangs, ${DECISIONS} decisions per queue size, one thread`,
  );
  const results: SizeResult[] = [];
  for (const size of SIZES) {
    const r = runSize(size);
    results.push(r);
    console.log(
      [
        `queued ${String(size).padStart(6)}:`,
        `decision p50 ${fmt(r.p50)} p99 ${fmt(r.p99)} max ${fmt(r.max)}`,
        `${Math.round(r.perSecond)} decisions/s`,
        `pass p50 ${fmt(r.passP50)} p99 ${fmt(r.passP99)}`,
        `(${r.decisions} decisions; queue at end ${r.queueAtEnd}; enqueue of the queue ${fmt(r.buildMs)}; first pass ${fmt(r.firstPassMs)} for ${r.firstDecisions} decisions)`,
      ].join(' | '),
    );
    console.log(
      `  baselines on the same snapshot: old planPlacements pass ${fmt(r.oldPassMs)} for ${r.oldDecisions} placements` +
        ` (${(r.oldPassMs / r.passP99).toFixed(1)}x the new p99 pass, ${(r.oldPassMs / r.p99).toFixed(0)}x the new p99 decision); new core built from scratch + pass ${fmt(r.freshPassMs)}`,
    );
    console.log(
      `  the service's kept core (C8), per event (changes + pass, <= 64 decisions, 256 front jobs and every placement explained): p50 ${fmt(r.service.p50)} p99 ${fmt(r.service.p99)} over ${r.service.events} events; without waiting explanations p50 ${fmt(r.service.quietP50)}`,
    );
  }
  const base = results[0]!;
  for (const r of results.slice(1)) {
    console.log(
      `growth ${base.size} -> ${r.size} queued (x${(r.size / base.size).toFixed(0)}): decision p50 x${(r.p50 / base.p50).toFixed(2)}, p99 x${(r.p99 / base.p99).toFixed(2)}, decisions/s x${(r.perSecond / base.perSecond).toFixed(2)}, pass p50 x${(r.passP50 / base.passP50).toFixed(2)}; old pass x${(r.oldPassMs / base.oldPassMs).toFixed(2)}`,
    );
  }
  const ten = results.find((r) => r.size === 10_000);
  if (ten) {
    console.log(
      `goal p99 <= 50 ms per decision at 10k queued on 1k nodes: ${ten.p99 <= 50 ? 'met' : 'NOT met'} (${fmt(ten.p99)})`,
    );
  }
};

main();
