import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import {
  GatewayClient,
  PLATFORM_SERVICES,
  startPlatform,
  type Platform,
  type PlatformService,
} from '@gantry/platform';
import { WORKSPACE_ROOT } from '@gantry/testing';
import { createHash } from 'node:crypto';
import {
  judgeSteps,
  stepJobsOf,
  judgeHistory,
  judgeOutputs,
  percentiles,
  seededRandom,
  sharedRefs,
  type CommittedOutput,
  type JobVerdict,
  type OutputsVerdict,
  type StoredEvent,
} from './checks';
import { startChaosServers, type ChaosServers } from './servers';

/**
 * The chaos run: its own servers, the whole platform as processes, a seeded workload submitted
 * through the REST API while seeded faults are injected, then the checks over the event store.
 */
export interface ChaosOptions {
  readonly jobs: number;
  readonly faults: number;
  readonly seed: number;
  readonly agents?: number;
  /** How long after the last fault every acknowledged job has to reach a terminal state. */
  readonly drainMs?: number;
  readonly log?: (line: string) => void;
  /** Keep the servers' and agents' directories (for a post-mortem). */
  readonly keepFiles?: boolean;
}

export type JobKind = 'single' | 'gang' | 'fail-first' | 'fail-first-gang' | 'resume' | 'dag';
const JOB_KINDS: readonly JobKind[] = [
  'single',
  'gang',
  'fail-first',
  'fail-first-gang',
  'resume',
  'dag',
];
export type FaultKind =
  | `kill-service:${PlatformService}`
  | 'kill-agent'
  | 'pause-agent'
  | 'restart-nats'
  | 'restart-postgres';

export interface FaultRecord {
  readonly kind: FaultKind;
  readonly target: string;
  /** Milliseconds since the run started. */
  readonly at: number;
  readonly recoveredAt?: number;
  readonly error?: string;
  /** For a lost node: when the scheduler declared it lost (NodeLost), ms after the fault. */
  detectMs?: number;
  /** For a lost node: the first AttemptFailed naming it, ms after the fault. */
  attemptFailedMs?: number;
  /** For a lost node: when the first job it lost was running again elsewhere, ms after the fault. */
  runningAgainMs?: number;
  /** For a paused agent whose attempts were failed: what it logged on finding itself fenced. */
  fencedBy?: string;
}

export interface JobOutcome {
  readonly index: number;
  readonly kind: JobKind;
  readonly id?: string;
  /** Why it was never acknowledged (a 4xx), if so. */
  readonly refused?: string;
  readonly submitTries: number;
  verdict?: JobVerdict;
  outputs?: OutputsVerdict;
  apiState?: string;
}

export interface ChaosReport {
  readonly seed: number;
  readonly jobs: readonly JobOutcome[];
  readonly faults: readonly FaultRecord[];
  readonly durationMs: number;
  readonly problems: {
    readonly lost: readonly string[];
    readonly illegal: readonly string[];
    readonly doubleAssignment: readonly string[];
    readonly notSucceeded: readonly string[];
    readonly retryNotUsed: readonly string[];
    readonly duplicateOutputs: readonly string[];
    readonly outputDigests: readonly string[];
    readonly notResumed: readonly string[];
    readonly apiDisagrees: readonly string[];
    readonly notFenced: readonly string[];
    readonly faultErrors: readonly string[];
    readonly refused: readonly string[];
    /** D5: a step run twice in one run, a step job's bad history, a lost or unchecked result. */
    readonly steps: readonly string[];
  };
  readonly summary: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const FENCING = /"event":"(lease-lost|offer-fenced|kill-fenced|command-refused|heartbeat-refused)"/;
const RETRY = { maxAttempts: 8, initialBackoffSeconds: 1, maxBackoffSeconds: 2 };
const NODE_LOST_MS = 10_000;

/** What every job's rank 0 commits as `result.txt` (D4): known, so its bytes can be checked. */
const resultOf = (index: number): string => `chaos job ${index}`;
/** What a `resume` job commits as `resumed-from`: its checkpoint's bytes, or this when it had none. */
const NO_CHECKPOINT = 'none';

const commandFor = (kind: JobKind, index: number, sleepSeconds: string): string[] => {
  const body =
    `sleep ${sleepSeconds}; echo "chaos job ${index} rank $GANTRY_RANK attempt $GANTRY_ATTEMPT"; ` +
    `[ "$GANTRY_RANK" != 0 ] || printf '${resultOf(index)}' > "$GANTRY_OUTPUT_DIR/result.txt"`;
  const failFirst = kind === 'fail-first' || kind === 'fail-first-gang';
  if (kind === 'resume') {
    // D7: save a checkpoint, then fail the first attempt; a later one resumes from whatever
    // checkpoint it is handed and says which in an output the checks compare with the history.
    const resume = [
      'if [ -n "$GANTRY_CHECKPOINT" ]; then cp "$GANTRY_CHECKPOINT" "$GANTRY_OUTPUT_DIR/resumed-from"; else',
      `printf "ckpt ${index} attempt $GANTRY_ATTEMPT" > state.ckpt;`,
      `echo '{"checkpoint":"state.ckpt"}' >> "$GANTRY_PROGRESS_FILE";`,
      '[ "$GANTRY_ATTEMPT" -gt 1 ] || exit 3;',
      `printf ${NO_CHECKPOINT} > "$GANTRY_OUTPUT_DIR/resumed-from"; fi`,
    ].join(' ');
    return ['sh', '-c', `${resume}; ${body}`];
  }
  return ['sh', '-c', failFirst ? `[ "$GANTRY_ATTEMPT" -gt 1 ] || exit 3; ${body}` : body];
};

/**
 * D5: a job with steps, `first` -> `second`, and `side` beside them. `second` fails its first
 * attempt on purpose, and commits the job's result only if `first`'s committed output reached it
 * intact as an input; `first` and `side` commit a part each.
 */
const stepsFor = (index: number, sleepSeconds: string): Record<string, unknown>[] => {
  const part = (name: string) =>
    `sleep ${sleepSeconds}; printf 'dag ${index} ${name}' > "$GANTRY_OUTPUT_DIR/part.txt"`;
  return [
    { name: 'first', command: ['sh', '-c', part('first')] },
    {
      name: 'second',
      dependsOn: ['first'],
      command: [
        'sh',
        '-c',
        `[ "$GANTRY_ATTEMPT" -gt 1 ] || exit 3; sleep ${sleepSeconds}; ` +
          `[ "$(cat steps/first/part.txt)" = 'dag ${index} first' ] || exit 5; ` +
          `printf '${resultOf(index)}' > "$GANTRY_OUTPUT_DIR/result.txt"`,
      ],
    },
    {
      // Fans out (D5): one child job, which ends the step when it ends.
      name: 'side',
      command: [
        'sh',
        '-c',
        `${part('side')}; printf '%s' '${JSON.stringify([
          {
            name: 'leaf',
            spec: {
              resources: { cpu: 1, memoryMiB: 64 },
              retry: RETRY,
              command: ['sh', '-c', `printf 'dag ${index} leaf' > "$GANTRY_OUTPUT_DIR/part.txt"`],
            },
          },
        ])}' > "$GANTRY_CHILD_JOBS"`,
      ],
    },
  ];
};

interface PlannedJob {
  readonly index: number;
  readonly kind: JobKind;
  readonly spec: Record<string, unknown>;
}

const planJobs = (count: number, random: () => number): PlannedJob[] =>
  Array.from({ length: count }, (_, index) => {
    const roll = random();
    // A third of the jobs fail their first attempt on purpose, as before resume jobs existed.
    const kind: JobKind =
      roll < 0.4
        ? 'single'
        : roll < 0.45
          ? 'dag'
          : roll < 0.7
            ? 'gang'
            : roll < 0.8
              ? 'fail-first'
              : roll < 0.9
                ? 'fail-first-gang'
                : 'resume';
    const sleepSeconds = (0.1 + random() * 0.9).toFixed(2);
    if (kind === 'dag') {
      return {
        index,
        kind,
        spec: {
          name: `chaos-${index}-${kind}`,
          resources: { cpu: 1, memoryMiB: 64 },
          retry: RETRY,
          steps: stepsFor(index, sleepSeconds),
        },
      };
    }
    return {
      index,
      kind,
      spec: {
        name: `chaos-${index}-${kind}`,
        nodes: kind === 'gang' || kind === 'fail-first-gang' ? 2 : 1,
        resources: { cpu: 1, memoryMiB: 64 },
        retry: RETRY,
        command: commandFor(kind, index, sleepSeconds),
      },
    };
  });

const planFaults = (count: number, agents: number, random: () => number): FaultKind[] => {
  const every: FaultKind[] = [
    ...PLATFORM_SERVICES.map((s) => `kill-service:${s}` as const),
    'kill-agent',
    'pause-agent',
    'restart-nats',
    'restart-postgres',
  ];
  const kinds = [...every];
  while (kinds.length < count) kinds.push(every[Math.floor(random() * every.length)]!);
  // Fisher-Yates: every kind at least once (when count allows), in a seeded order.
  for (let i = kinds.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  void agents;
  return kinds.slice(0, Math.max(count, 0));
};

/** A 201 (or 200 for a replayed key) is an acknowledgement; an error, a 5xx or a timeout is not. */
const submitUntilAcknowledged = async (
  gatewayUrl: string,
  apiKey: string,
  job: PlannedJob,
  key: string,
  deadline: number,
): Promise<{ id?: string; refused?: string; tries: number }> => {
  let tries = 0;
  for (;;) {
    tries += 1;
    try {
      const res = await fetch(`${gatewayUrl}/v1/jobs`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/json',
          'idempotency-key': key,
        },
        body: JSON.stringify(job.spec),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      if (res.status === 201 || res.status === 200) {
        return { id: (JSON.parse(text) as { id: string }).id, tries };
      }
      if (res.status < 500 && res.status !== 408 && res.status !== 429) {
        return { refused: `${res.status} ${text.slice(0, 300)}`, tries };
      }
    } catch {
      // Connection refused, reset or timed out: not an acknowledgement; try again.
    }
    if (Date.now() > deadline) return { refused: `no acknowledgement after ${tries} tries`, tries };
    await sleep(250 + Math.min(tries, 8) * 250);
  }
};

const readHistories = async (
  pool: Pool,
  jobIds: readonly string[],
): Promise<Map<string, StoredEvent[]>> => {
  const result = await pool.query<{
    stream_id: string;
    stream_version: number;
    type: string;
    data: Record<string, unknown>;
    occurred_at: Date;
  }>(
    `SELECT stream_id, stream_version, type, data, occurred_at FROM events
      WHERE stream_id = ANY($1) ORDER BY stream_id, stream_version`,
    [jobIds.map((id) => `job-${id}`)],
  );
  const histories = new Map<string, StoredEvent[]>(jobIds.map((id) => [id, []]));
  for (const row of result.rows) {
    histories.get(row.stream_id.slice('job-'.length))?.push({
      version: row.stream_version,
      type: row.type,
      data: row.data,
      occurredAt: row.occurred_at,
    });
  }
  return histories;
};

export const runChaos = async (options: ChaosOptions): Promise<ChaosReport> => {
  const log = options.log ?? ((line: string) => console.log(line));
  const random = seededRandom(options.seed);
  const agentCount = options.agents ?? 3;
  const nodes = Array.from({ length: agentCount }, (_, i) => `chaos-node-${i + 1}`);
  log(
    `chaos: seed ${options.seed} (replay with CHAOS_SEED=${options.seed}), ${options.jobs} jobs, ${options.faults} faults, ${agentCount} agents`,
  );

  const jobsPlan = planJobs(options.jobs, random);
  const faultPlan = planFaults(options.faults, agentCount, random);
  const gaps = faultPlan.map(() => 2_000 + Math.floor(random() * 4_000));
  const downs = faultPlan.map(() => 500 + Math.floor(random() * 2_000));
  const targets = faultPlan.map(() => random());

  const dir = mkdtempSync(join(tmpdir(), 'gantry-chaos-'));
  // Postgres runs as the postgres user and jobs as an unprivileged one: both traverse this.
  chmodSync(dir, 0o711);
  const fencingLines: { process: string; at: number; line: string }[] = [];
  let servers: ChaosServers | undefined;
  let platform: Platform | undefined;
  let pool: Pool | undefined;
  const t0 = Date.now();
  const since = () => Date.now() - t0;
  const logDir = join(dir, 'logs');
  mkdirSync(logDir);
  try {
    servers = await startChaosServers(dir, log);
    platform = await startPlatform({
      workspaceRoot: WORKSPACE_ROOT,
      databaseUrl: servers.databaseUrl,
      natsUrl: servers.natsUrl,
      namespace: `chaos${options.seed}`,
      adminToken: 'chaos-admin-token',
      workRoot: join(dir, 'work'),
      agents: nodes.map((nodeId) => ({ nodeId, pools: ['cpu'], cpu: 4, memoryMiB: 4096 })),
      // The breaker (C9) runs as in production: the workload fails on purpose, so nodes get
      // quarantined, and must come back through their probes (a short delay here) whatever the
      // faults do to the probe's verdict; never more than half the pool is out.
      env: { GANTRY_QUARANTINE_PROBE_MS: '2000' },
      onLine: (process, line) => {
        // Every process's output, with the harness's clock, for the post-mortem of a failed run.
        appendFileSync(join(logDir, `${process}.log`), `${Date.now() - t0} ${line}\n`);
        if (process.startsWith('agent-') && FENCING.test(line)) {
          fencingLines.push({ process, at: Date.now(), line });
        }
      },
    });
    const started = platform;
    const admin = new GatewayClient(started.gatewayUrl, started.adminToken);
    const apiKey = await admin.createTenant('chaos', { cores: 100_000, concurrentJobs: 100_000 });
    log(`chaos: platform up after ${since()} ms`);

    // The workload is spread over the time the faults are expected to take.
    const runStart = Date.now();
    const expectedFaultMs = faultPlan.length * 12_000 + 10_000;
    const outcomes: JobOutcome[] = [];
    let next = 0;
    const submitter = async (): Promise<void> => {
      for (;;) {
        const job = jobsPlan[next];
        next += 1;
        if (!job) return;
        const due = runStart + (job.index * expectedFaultMs) / Math.max(jobsPlan.length, 1);
        if (due > Date.now()) await sleep(due - Date.now());
        const ack = await submitUntilAcknowledged(
          started.gatewayUrl,
          apiKey,
          job,
          `chaos-${options.seed}-${job.index}`,
          Date.now() + 180_000,
        );
        outcomes.push({
          index: job.index,
          kind: job.kind,
          submitTries: ack.tries,
          ...(ack.id ? { id: ack.id } : {}),
          ...(ack.refused ? { refused: ack.refused } : {}),
        });
      }
    };

    const faults: FaultRecord[] = [];
    const injector = async (): Promise<void> => {
      for (const [i, kind] of faultPlan.entries()) {
        await sleep(gaps[i]!);
        const pick = <T>(list: readonly T[]): T => list[Math.floor(targets[i]! * list.length)]!;
        const at = since();
        let target = '';
        try {
          if (kind.startsWith('kill-service:')) {
            const name = kind.slice('kill-service:'.length) as PlatformService;
            target = name;
            log(`chaos: +${at} ms kill -9 ${name}`);
            await started.service(name).kill();
            await sleep(downs[i]!);
            await started.restartService(name);
          } else if (kind === 'kill-agent') {
            target = pick(nodes);
            log(`chaos: +${at} ms kill -9 agent ${target}`);
            await started.agent(target).kill();
            // Down past the loss limit, so the scheduler has to detect it.
            await sleep(NODE_LOST_MS + 2_000 + downs[i]!);
            await started.restartAgent(target);
          } else if (kind === 'pause-agent') {
            target = pick(nodes);
            log(`chaos: +${at} ms SIGSTOP agent ${target}`);
            started.agent(target).signal('SIGSTOP');
            await sleep(NODE_LOST_MS + 3_000 + downs[i]!);
            started.agent(target).signal('SIGCONT');
          } else if (kind === 'restart-nats') {
            const signal = targets[i]! < 0.5 ? 'SIGTERM' : 'SIGKILL';
            target = `nats-server (${signal})`;
            log(`chaos: +${at} ms restart nats-server with ${signal}`);
            await servers!.restartNats(downs[i]!, signal);
          } else {
            target = 'postgres';
            log(`chaos: +${at} ms restart postgres (immediate stop)`);
            await servers!.restartPostgres(downs[i]!);
          }
          faults.push({ kind, target, at, recoveredAt: since() });
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          log(`chaos: fault ${kind} ${target} failed: ${error}`);
          faults.push({ kind, target, at, error });
        }
      }
    };
    await Promise.all([injector(), ...Array.from({ length: 6 }, submitter)]);
    log(`chaos: faults done and ${outcomes.length} jobs submitted at +${since()} ms; draining`);

    pool = new Pool({ connectionString: servers.databaseUrl, max: 2 });
    pool.on('error', () => undefined);
    const acknowledged = outcomes.filter((o) => o.id !== undefined);
    const ids = acknowledged.map((o) => o.id!);
    const drainDeadline = Date.now() + (options.drainMs ?? 180_000);
    let histories = new Map<string, StoredEvent[]>();
    for (;;) {
      try {
        histories = await readHistories(pool, ids);
        const open = ids.filter((id) => !judgeHistory(histories.get(id) ?? []).terminal);
        if (open.length === 0 || Date.now() > drainDeadline) break;
      } catch {
        // Postgres may still be recovering.
      }
      await sleep(1_000);
    }
    log(`chaos: drained at +${since()} ms`);

    for (const outcome of acknowledged) {
      outcome.verdict = judgeHistory(histories.get(outcome.id!) ?? []);
      outcome.outputs = judgeOutputs(histories.get(outcome.id!) ?? []);
    }
    // The read model the API serves must converge on the event store.
    const tenant = admin.as(apiKey);
    const convergeDeadline = Date.now() + 30_000;
    for (const outcome of acknowledged) {
      for (;;) {
        const reply = await tenant
          .call<{ state: string }>('GET', `/v1/jobs/${outcome.id}`)
          .catch(() => undefined);
        outcome.apiState = reply?.status === 200 ? reply.body.state : `http ${reply?.status}`;
        if (outcome.apiState === outcome.verdict!.state || Date.now() > convergeDeadline) break;
        await sleep(250);
      }
    }

    await measureNodeLoss(pool, faults, histories, t0, fencingLines);
    const digests = await checkStoredOutputs(tenant, acknowledged);
    const steps = await checkSteps(pool, tenant, acknowledged, histories);
    const report = buildReport(
      options.seed,
      outcomes,
      faults,
      since(),
      histories,
      [...digests, ...steps.digests],
      steps,
    );
    log(report.summary);
    return report;
  } catch (err) {
    if (platform) log(platform.describe());
    throw err;
  } finally {
    await pool?.end().catch(() => undefined);
    await platform?.stop().catch(() => undefined);
    await servers?.stop().catch(() => undefined);
    if (options.keepFiles) log(`chaos: files kept in ${dir} (process logs in ${logDir})`);
    else rmSync(dir, { recursive: true, force: true });
  }
};

const measureNodeLoss = async (
  pool: Pool,
  faults: FaultRecord[],
  histories: Map<string, StoredEvent[]>,
  t0: number,
  fencingLines: readonly { process: string; at: number; line: string }[],
): Promise<void> => {
  const lost = await pool.query<{ stream_id: string; data: { lostAt: string } }>(
    `SELECT stream_id, data FROM events WHERE type = 'NodeLost' ORDER BY global_position`,
  );
  const events = [...histories.values()].flat();
  for (const fault of faults) {
    if (fault.kind !== 'kill-agent' && fault.kind !== 'pause-agent') continue;
    const faultAt = t0 + fault.at;
    const until = t0 + (fault.recoveredAt ?? fault.at + 60_000);
    const nodeLost = lost.rows
      .filter((r) => r.stream_id === `node-${fault.target}`)
      .map((r) => Date.parse(r.data.lostAt))
      .find((at) => at >= faultAt);
    if (nodeLost !== undefined) fault.detectMs = nodeLost - faultAt;
    const failed = events
      .filter(
        (e) =>
          e.type === 'AttemptFailed' &&
          e.data['nodeLost'] === fault.target &&
          e.occurredAt.getTime() >= faultAt &&
          e.occurredAt.getTime() <= until + 5_000,
      )
      .sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime());
    const firstFailed = failed[0];
    if (firstFailed) {
      fault.attemptFailedMs = firstFailed.occurredAt.getTime() - faultAt;
      const jobId = firstFailed.data['jobId'];
      const again = events.find(
        (e) =>
          e.type === 'JobStarted' &&
          e.data['jobId'] === jobId &&
          e.occurredAt.getTime() > firstFailed.occurredAt.getTime(),
      );
      if (again) fault.runningAgainMs = again.occurredAt.getTime() - faultAt;
    }
    if (fault.kind === 'pause-agent' && firstFailed) {
      // Only what it said once it ran again: the fencing is its own discovery after SIGCONT.
      const resumedAt = t0 + (fault.recoveredAt ?? fault.at);
      const line = fencingLines.find(
        (l) => l.process === `agent-${fault.target}` && l.at >= resumedAt,
      );
      if (line) fault.fencedBy = /"event":"([a-z-]+)"/.exec(line.line)?.[1] ?? line.line;
    }
  }
};

const sha256 = (bytes: string | Uint8Array): string =>
  createHash('sha256').update(bytes).digest('hex');

/**
 * The artifact store's side of D4: every committed output is fetched the way a tenant would
 * (GET /v1/jobs/{id}/outputs/{name}, then its signed URL) and its bytes hashed; they must be the
 * committed digest, and `result.txt` the job's own result. A SUCCEEDED job without its result
 * committed lost an output. Findings per job, as sentences.
 */
const checkStoredOutputs = async (
  tenant: GatewayClient,
  outcomes: readonly JobOutcome[],
): Promise<string[]> => {
  const found: string[] = [];
  for (const outcome of outcomes) {
    const committed = outcome.outputs?.committed ?? [];
    const name = `job ${outcome.id} (#${outcome.index} ${outcome.kind})`;
    // A job with steps commits nothing itself: its steps' jobs do (checkSteps).
    const commits = outcome.kind !== 'dag';
    if (
      commits &&
      outcome.verdict?.state === 'SUCCEEDED' &&
      !committed.some((o) => o.name === 'result.txt')
    ) {
      found.push(`${name} succeeded without its result.txt committed`);
    }
    for (const output of committed) {
      const problem = await storedBytesProblem(tenant, outcome, output);
      if (problem !== undefined) found.push(`${name} ${output.name}: ${problem}`);
    }
  }
  return found;
};

const storedBytesProblem = async (
  tenant: GatewayClient,
  outcome: JobOutcome,
  output: CommittedOutput,
): Promise<string | undefined> => {
  try {
    const reply = await tenant.call<{ url: string }>(
      'GET',
      `/v1/jobs/${outcome.id}/outputs/${encodeURIComponent(output.name)}`,
    );
    if (reply.status !== 200)
      return `download answered ${reply.status} ${reply.text.slice(0, 200)}`;
    const res = await fetch(reply.body.url, { signal: AbortSignal.timeout(10_000) });
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (!res.ok) return `signed URL answered ${res.status}`;
    if (sha256(bytes) !== output.sha256)
      return `stored bytes hash to ${sha256(bytes)}, committed ${output.sha256}`;
    if (output.name === 'result.txt' && sha256(bytes) !== sha256(resultOf(outcome.index))) {
      return "the bytes are not this job's result";
    }
    return undefined;
  } catch (err) {
    return `could not be fetched: ${err instanceof Error ? err.message : String(err)}`;
  }
};

/**
 * D5 over every job with steps: judged with the histories of the jobs that ran its steps (read
 * from the store), every committed output of those jobs fetched and hashed, and, from the whole
 * store, never two jobs submitted for one step of one run. `second`, which fails its first
 * attempt on purpose, must have succeeded on a retry with the job's result.
 */
const checkSteps = async (
  pool: Pool,
  tenant: GatewayClient,
  outcomes: readonly JobOutcome[],
  histories: ReadonlyMap<string, StoredEvent[]>,
): Promise<{ problems: string[]; digests: string[]; summary: string }> => {
  const problems: string[] = [];
  const digests: string[] = [];
  const dags = outcomes.filter((o) => o.kind === 'dag');
  // Every job below a job with steps, level by level: a step may fan out to children of its own.
  const children = new Map<string, StoredEvent[]>();
  let level = dags.flatMap((o) => stepJobsOf(histories.get(o.id!) ?? []));
  for (let depth = 0; depth < 4 && level.length > 0; depth += 1) {
    const read = await readHistories(pool, level);
    for (const [id, history] of read) children.set(id, history);
    level = [...read.values()].flatMap(stepJobsOf).filter((id) => !children.has(id));
  }
  let stepJobs = 0;
  const parents = [
    ...dags.map((o) => ({ o, history: histories.get(o.id!) ?? [] })),
    ...dags.flatMap((o) =>
      [...children.entries()]
        .filter(([, h]) => stepJobsOf(h).length > 0 && rootOf(h, children) === o.id)
        .map(([, history]) => ({ o, history })),
    ),
  ];
  for (const { o: outcome, history: parent } of parents) {
    const name = `job ${String(parent[0]?.data['jobId'])} (under #${outcome.index} dag)`;
    for (const problem of judgeSteps(parent, children)) problems.push(`${name}: ${problem}`);
    for (const childId of stepJobsOf(parent)) {
      stepJobs += 1;
      const history = children.get(childId) ?? [];
      const step = (history[0]?.data['parent'] as { step?: string } | undefined)?.step;
      const committed = judgeOutputs(history).committed;
      const verdict = judgeHistory(history);
      if (step === 'second' && verdict.state === 'SUCCEEDED') {
        if ((verdict.succeededAttempt ?? 0) < 2)
          problems.push(`${name}: step second succeeded on attempt ${verdict.succeededAttempt}`);
        if (!committed.some((o) => o.name === 'result.txt'))
          problems.push(`${name}: step second succeeded without its result.txt`);
      }
      const child: JobOutcome = { index: outcome.index, kind: 'dag', id: childId, submitTries: 1 };
      for (const output of committed) {
        // Only `second` commits the job's result; the parts are checked against their digests.
        const problem = await storedBytesProblem(tenant, child, output);
        if (problem !== undefined) digests.push(`${name} step ${step} ${output.name}: ${problem}`);
      }
    }
  }
  const { rows } = await pool.query<{ parent: string; jobs: string }>(
    `SELECT data->'parent'->>'jobId' || ' ' || (data->'parent'->>'step') || ' run ' ||
            (data->'parent'->>'run') AS parent, count(DISTINCT stream_id) AS jobs
       FROM events WHERE type = 'JobSubmitted' AND data ? 'parent'
      GROUP BY 1 HAVING count(DISTINCT stream_id) > 1`,
  );
  for (const row of rows) problems.push(`step ${row.parent} was submitted as ${row.jobs} jobs`);
  return {
    problems,
    digests,
    summary: `${dags.length} jobs with steps ran ${stepJobs} step jobs`,
  };
};

/** The job at the top of a chain of step jobs (each naming the job it is a step of). */
const rootOf = (
  history: readonly StoredEvent[],
  jobs: ReadonlyMap<string, readonly StoredEvent[]>,
): string | undefined => {
  let current = history;
  for (let depth = 0; depth < 8; depth += 1) {
    const parent = (current[0]?.data['parent'] as { jobId?: string } | undefined)?.jobId;
    if (parent === undefined) return String(current[0]?.data['jobId']);
    const up = jobs.get(parent);
    if (up === undefined) return parent;
    current = up;
  }
  return undefined;
};

/** D7: a retried `resume` job succeeded from the last checkpoint saved before its last lease. */
const resumeProblem = (o: JobOutcome): string | undefined => {
  if (o.kind !== 'resume' || o.verdict?.state !== 'SUCCEEDED') return undefined;
  const resumed = o.outputs?.committed.find((c) => c.name === 'resumed-from');
  if (resumed === undefined) return 'committed no resumed-from';
  const expected = o.outputs?.resumeFrom ?? sha256(NO_CHECKPOINT);
  return resumed.sha256 === expected
    ? undefined
    : `resumed from ${resumed.sha256}, the last checkpoint before its attempt was ${o.outputs?.resumeFrom ?? 'none'}`;
};

const buildReport = (
  seed: number,
  outcomes: JobOutcome[],
  faults: readonly FaultRecord[],
  durationMs: number,
  histories: Map<string, StoredEvent[]>,
  outputDigests: readonly string[],
  steps: { readonly problems: readonly string[]; readonly summary: string } = {
    problems: [],
    summary: 'none',
  },
): ChaosReport => {
  const sorted = [...outcomes].sort((a, b) => a.index - b.index);
  const acked = sorted.filter((o) => o.id !== undefined);
  const name = (o: JobOutcome) => `job ${o.id} (#${o.index} ${o.kind})`;
  const history = (o: JobOutcome) =>
    (histories.get(o.id!) ?? [])
      .map(
        (e) => `${e.type}${e.data['leaseEpoch'] === undefined ? '' : `@${e.data['leaseEpoch']}`}`,
      )
      .join(' ');
  const problems = {
    lost: acked
      .filter((o) => !o.verdict!.terminal)
      .map((o) => `${name(o)} stuck in ${o.verdict!.state}: ${history(o)}`),
    illegal: acked.flatMap((o) => o.verdict!.illegal.map((v) => `${name(o)}: ${v}`)),
    doubleAssignment: acked.flatMap((o) =>
      o.verdict!.doubleAssignment.map((v) => `${name(o)}: ${v}: ${history(o)}`),
    ),
    notSucceeded: acked
      .filter((o) => o.verdict!.terminal && o.verdict!.state !== 'SUCCEEDED')
      .map((o) => `${name(o)} ended ${o.verdict!.state}: ${history(o)}`),
    retryNotUsed: acked
      .filter(
        (o) =>
          (o.kind === 'fail-first' || o.kind === 'fail-first-gang' || o.kind === 'resume') &&
          o.verdict!.state === 'SUCCEEDED' &&
          (o.verdict!.succeededAttempt ?? 0) < 2,
      )
      .map((o) => `${name(o)} succeeded on attempt ${o.verdict!.succeededAttempt}`),
    duplicateOutputs: [
      ...acked.flatMap((o) => o.outputs!.duplicates.map((v) => `${name(o)}: ${v}: ${history(o)}`)),
      ...sharedRefs(new Map(acked.map((o) => [o.id!, o.outputs!.committed]))),
    ],
    outputDigests,
    notResumed: acked.flatMap((o) => {
      const problem = resumeProblem(o);
      return problem === undefined ? [] : [`${name(o)}: ${problem}: ${history(o)}`];
    }),
    apiDisagrees: acked
      .filter((o) => o.apiState !== o.verdict!.state)
      .map((o) => `${name(o)}: API says ${o.apiState}, events say ${o.verdict!.state}`),
    notFenced: faults
      .filter((f) => f.kind === 'pause-agent' && f.attemptFailedMs !== undefined && !f.fencedBy)
      .map((f) => `paused ${f.target} lost attempts but logged no fencing after SIGCONT`),
    faultErrors: faults.filter((f) => f.error).map((f) => `${f.kind} ${f.target}: ${f.error}`),
    refused: sorted.filter((o) => o.refused).map((o) => `#${o.index} ${o.kind}: ${o.refused}`),
    steps: steps.problems,
  };

  const states = new Map<string, number>();
  for (const o of acked) states.set(o.verdict!.state, (states.get(o.verdict!.state) ?? 0) + 1);
  const lossFaults = faults.filter((f) => f.kind === 'kill-agent' || f.kind === 'pause-agent');
  const detect = percentiles(
    lossFaults.flatMap((f) => (f.detectMs === undefined ? [] : [f.detectMs])),
  );
  const again = percentiles(
    lossFaults.flatMap((f) => (f.runningAgainMs === undefined ? [] : [f.runningAgainMs])),
  );
  const lines = [
    `===== chaos summary (seed ${seed}, ${(durationMs / 1000).toFixed(0)} s) =====`,
    `jobs: ${sorted.length} planned, ${acked.length} acknowledged (${sorted.reduce((n, o) => n + o.submitTries - 1, 0)} submit retries), ${problems.refused.length} refused`,
    `  by kind: ${JOB_KINDS.map((k) => `${k} ${sorted.filter((o) => o.kind === k).length}`).join(', ')}`,
    `  outputs committed: ${acked.reduce((n, o) => n + (o.outputs?.committed.length ?? 0), 0)}; resumed from a checkpoint: ${acked.filter((o) => o.kind === 'resume' && o.outputs?.resumeFrom !== undefined && resumeProblem(o) === undefined).length} of ${acked.filter((o) => o.kind === 'resume').length} resume jobs`,
    `  steps: ${steps.summary}`,
    `  end states: ${[...states].map(([s, n]) => `${s} ${n}`).join(', ')}`,
    `  retried (more than one lease): ${acked.filter((o) => o.verdict!.leases > 1).length}`,
    `faults: ${faults.length} injected, ${faults.filter((f) => f.recoveredAt !== undefined).length} recovered`,
    ...faults.map(
      (f) =>
        `  +${(f.at / 1000).toFixed(1)} s ${f.kind} ${f.target}` +
        (f.recoveredAt === undefined
          ? ' NOT RECOVERED'
          : ` (recovered +${(f.recoveredAt / 1000).toFixed(1)} s)`) +
        (f.detectMs === undefined ? '' : `, NodeLost after ${(f.detectMs / 1000).toFixed(1)} s`) +
        (f.attemptFailedMs === undefined
          ? ''
          : `, attempt failed after ${(f.attemptFailedMs / 1000).toFixed(1)} s`) +
        (f.runningAgainMs === undefined
          ? ''
          : `, running again after ${(f.runningAgainMs / 1000).toFixed(1)} s`) +
        (f.fencedBy === undefined ? '' : `, fenced (${f.fencedBy})`),
    ),
    `node loss detection: ${detect ? `p50 ${(detect.p50 / 1000).toFixed(1)} s, max ${(detect.max / 1000).toFixed(1)} s` : 'none measured'}` +
      `; running again: ${again ? `p50 ${(again.p50 / 1000).toFixed(1)} s, max ${(again.max / 1000).toFixed(1)} s` : 'none measured'}`,
    'checks:',
    ...Object.entries(problems).map(
      ([check, found]) =>
        `  ${check}: ${found.length === 0 ? 'ok' : `${found.length} FOUND`}` +
        found
          .slice(0, 10)
          .map((f) => `\n    ${f}`)
          .join(''),
    ),
  ];
  return { seed, jobs: sorted, faults, durationMs, problems, summary: lines.join('\n') };
};
