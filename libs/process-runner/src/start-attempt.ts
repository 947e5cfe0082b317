import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AttemptCgroup, createAttemptCgroup, type ResourceLimits } from './cgroup';
import { childEnvironment, rankEnvironment, type RuntimeKind, SAFE_PATH } from './environment';
import { ProcessRunnerError } from './errors';
import { type OutputChunk, OutputSequencer } from './output-lines';
import { liveGroupMembers, signalGroup, waitForGroupGone } from './process-group';
import { resolveRunAs, type RunAs } from './run-as';
import { createWorkDir, workDirPath } from './work-dir';

export interface StartAttemptOptions {
  readonly jobId: string;
  readonly attempt: number;
  readonly rank: number;
  readonly worldSize: number;
  readonly hosts: readonly string[];
  readonly coordinator: string;
  /** argv; executed directly, never through a shell, so a tenant's arguments are never re-parsed. */
  readonly command: readonly string[];
  /** The tenant's variables; GANTRY_* are the platform's and override (or are dropped). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * More of the platform's own GANTRY_* variables, the agent's (GANTRY_OUTPUT_DIR and the like).
   * They cannot replace the gang contract of rankEnvironment: a name it sets is refused.
   */
  readonly platformEnv?: Readonly<Record<string, string>>;
  readonly workRoot: string;
  readonly maxRuntimeMs?: number;
  /** `auto`: as root, run as `nobody` with the work dir chowned to it; otherwise as ourselves. */
  readonly runAs?: RunAs | 'auto';
  readonly runtime?: RuntimeKind;
  readonly limits?: ResourceLimits;
  /** Where a cgroup v2 hierarchy would be mounted; a parameter so tests can point at another mount. */
  readonly cgroupRoot?: string;
  /** SIGTERM-to-SIGKILL grace when max runtime is hit. */
  readonly killGraceMs?: number;
  readonly onOutput: (chunk: OutputChunk) => void;
  /** A throwing onOutput must not take the runner down; its errors come here (default: dropped). */
  readonly onOutputError?: (err: unknown) => void;
  /**
   * Fills the fresh work dir (staged inputs) before the command starts; a rejection rejects startAttempt
   * and nothing runs. The caller removes the work dir then.
   */
  readonly prepareWorkDir?: (workDir: string, runAs: RunAs | undefined) => Promise<void>;
  /** Epoch milliseconds; injected so recorded times are deterministic in tests (CONVENTIONS.md #2). */
  readonly clock?: () => number;
}

export type ExitReason = 'exited' | 'killed' | 'max-runtime' | 'spawn-failed';

export interface AttemptExit {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly reason: ExitReason;
  readonly durationMs: number;
  /** Why the process could not start (spawn-failed), in words fit for the tenant's job status. */
  readonly message?: string;
  /** What kill() was called with ('cancelled', 'lease-lost', ...), or 'max-runtime'. */
  readonly killCause?: string;
  /**
   * Pids of the process group still able to run after SIGKILL and the wait (uninterruptible sleep on a
   * dead mount, say). Empty in the normal case; the agent should report a non-empty list as a node fault.
   */
  readonly survivors: readonly number[];
}

/** `not-requested`: no limits asked for; `unavailable`: asked, but the host has no usable cgroup v2. */
export type LimitsStatus = 'applied' | 'unavailable' | 'not-requested';

export interface AttemptHandle {
  /** Also the process group id. Undefined when the command could not be spawned. */
  readonly pid: number | undefined;
  readonly workDir: string;
  readonly runAs: RunAs | undefined;
  readonly limits: LimitsStatus;
  readonly limitsDetail?: string;
  /** Settles once the whole group is gone and every line is delivered; never rejects. */
  readonly exited: Promise<AttemptExit>;
  /** SIGTERM to the group, SIGKILL after graceMs; resolves like `exited`. A second call can only shorten the grace. */
  kill(cause?: string, graceMs?: number): Promise<AttemptExit>;
}

export const DEFAULT_KILL_GRACE_MS = 5000;
const MAX_RUNTIME_CAUSE = 'max-runtime';
/** How long a SIGKILLed group may take to disappear before we report survivors instead of waiting on. */
const AFTER_SIGKILL_WAIT_MS = 10_000;
/**
 * After the group is gone, how long to wait for EOF on its pipes. Only a process that left the group
 * (setsid) can hold them open longer, and it must not hold the attempt's completion hostage.
 */
const PIPE_DRAIN_MS = 2000;

/**
 * Waits for the cgroup move before exec'ing the job: the job's first instruction, and every process it
 * forks, is then inside the limits. The parent writes the pid into cgroup.procs as root, which the job's
 * unprivileged user could not do itself.
 */
const CGROUP_GATE = ['/bin/sh', '-c', 'read -r _ || exit 125; exec "$@" </dev/null', 'gantry-gate'];

/**
 * Starts one rank of one attempt. Rejects (ProcessRunnerError) only for what is the agent's fault: bad
 * options, a reused work dir, an unusable work root. Anything about the command itself, including one
 * that does not exist, resolves `exited` with reason 'spawn-failed'.
 */
export const startAttempt = async (options: StartAttemptOptions): Promise<AttemptHandle> => {
  const { command } = options;
  if (
    command.length === 0 ||
    command.some((arg) => typeof arg !== 'string' || arg.includes('\0'))
  ) {
    throw new ProcessRunnerError(
      'invalid-options',
      'command must be a non-empty argv of strings without NUL bytes',
    );
  }
  if (command[0] === '') throw new ProcessRunnerError('invalid-options', 'command[0] is empty');
  for (const [name, value] of [
    ['maxRuntimeMs', options.maxRuntimeMs],
    ['killGraceMs', options.killGraceMs],
  ] as const) {
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
      throw new ProcessRunnerError(
        'invalid-options',
        `${name} must be a positive number, got ${value}`,
      );
    }
  }
  const rankEnv = rankEnvironment(options);
  for (const name of Object.keys(options.platformEnv ?? {})) {
    if (!name.startsWith('GANTRY_') || name in rankEnv || name === 'GANTRY_WORK_DIR') {
      throw new ProcessRunnerError(
        'invalid-options',
        `platformEnv may add GANTRY_* variables, not set ${JSON.stringify(name)}`,
      );
    }
  }
  const coords = {
    workRoot: options.workRoot,
    jobId: options.jobId,
    attempt: options.attempt,
    rank: options.rank,
  };
  // Everything that can be refused is checked before the work dir exists, so a refusal leaves nothing behind.
  const env = childEnvironment({
    workDir: workDirPath(coords),
    tenantEnv: options.env ?? {},
    rankEnv: { ...rankEnv, ...options.platformEnv },
  });
  const runAs = resolveRunAs(options.runAs, process.getuid?.() ?? -1);
  const workDir = await createWorkDir(coords, runAs);
  await options.prepareWorkDir?.(workDir, runAs);

  let cgroup: AttemptCgroup | undefined;
  let limits: LimitsStatus = 'not-requested';
  let limitsDetail: string | undefined;
  if (
    options.limits !== undefined &&
    (options.limits.cpu !== undefined || options.limits.memoryMiB !== undefined)
  ) {
    const name = `${options.jobId}-${options.attempt}-${options.rank}`;
    const outcome = await createAttemptCgroup(
      options.cgroupRoot ?? '/sys/fs/cgroup',
      name,
      options.limits,
    );
    if (outcome.status === 'applied') {
      cgroup = outcome.cgroup;
      limits = 'applied';
      limitsDetail = cgroup.path;
    } else {
      limits = 'unavailable';
      limitsDetail = outcome.reason;
    }
  }
  const run = new AttemptRun(options, workDir, env, runAs, cgroup);
  await run.start();
  return {
    pid: run.pid,
    workDir,
    runAs,
    limits,
    ...(limitsDetail !== undefined && { limitsDetail }),
    exited: run.exited,
    kill: (cause = 'killed', graceMs = DEFAULT_KILL_GRACE_MS) => run.kill(cause, graceMs),
  };
};

class AttemptRun {
  pid: number | undefined;
  readonly exited: Promise<AttemptExit>;
  private resolveExited!: (exit: AttemptExit) => void;
  private readonly clock: () => number;
  private readonly sequencer: OutputSequencer;
  private child: ChildProcess | undefined;
  private startedAt = 0;
  private settled = false;
  private leaderExited = false;
  private killCause: string | undefined;
  private killDeadline = Number.POSITIVE_INFINITY;
  private terminating: Promise<readonly number[]> | undefined;
  private maxRuntimeTimer: NodeJS.Timeout | undefined;
  /** Set when the process started but the job must not run (the cgroup move failed). */
  private startFailure: string | undefined;

  constructor(
    private readonly options: StartAttemptOptions,
    private readonly workDir: string,
    private readonly env: Record<string, string>,
    private readonly runAs: RunAs | undefined,
    private readonly cgroup: AttemptCgroup | undefined,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    this.clock = options.clock ?? Date.now;
    this.sequencer = new OutputSequencer((chunk) => {
      try {
        options.onOutput(chunk);
      } catch (err) {
        options.onOutputError?.(err);
      }
    }, this.clock);
  }

  async start(): Promise<void> {
    const argv =
      this.cgroup === undefined
        ? [...this.options.command]
        : [...CGROUP_GATE, ...this.options.command];
    const [file, ...args] = argv as [string, ...string[]];
    this.startedAt = this.clock();
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd: this.workDir,
        env: this.env,
        // Its own session and so its own process group (pgid = pid): kill(-pgid) reaches every descendant
        // that did not deliberately leave, and a signal aimed at the agent's group never reaches the job.
        detached: true,
        stdio: [this.cgroup === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        ...(this.runAs !== undefined && { uid: this.runAs.uid, gid: this.runAs.gid }),
      });
    } catch (err) {
      await this.settleSpawnFailed(err);
      return;
    }
    this.child = child;
    child.on('error', (err) => {
      // After a successful spawn 'error' only reports a failed kill(), which our group signalling handles.
      if (child.pid === undefined) void this.settleSpawnFailed(err);
    });
    if (child.pid === undefined) return; // the 'error' event follows on the next tick
    this.pid = child.pid;
    child.stdout?.on('data', (data: Buffer) => this.sequencer.push('stdout', data));
    child.stderr?.on('data', (data: Buffer) => this.sequencer.push('stderr', data));
    child.on('exit', (code, signal) => void this.onLeaderExit(code, signal));
    if (this.cgroup !== undefined) {
      try {
        await this.cgroup.addProcess(child.pid);
        child.stdin?.end('\n');
      } catch (err) {
        signalGroup(child.pid, 'SIGKILL');
        this.startFailure = `could not move the job into its cgroup: ${(err as Error).message}`;
      }
    }
    if (this.options.maxRuntimeMs !== undefined) {
      this.maxRuntimeTimer = setTimeout(() => {
        void this.kill(MAX_RUNTIME_CAUSE, this.options.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
      }, this.options.maxRuntimeMs);
    }
  }

  kill(cause: string, graceMs: number): Promise<AttemptExit> {
    const pgid = this.pid;
    if (pgid === undefined || this.leaderExited || this.settled) return this.exited;
    this.killCause ??= cause;
    this.killDeadline = Math.min(this.killDeadline, Date.now() + Math.max(0, graceMs));
    this.terminating ??= this.terminate(pgid);
    return this.exited;
  }

  private async terminate(pgid: number): Promise<readonly number[]> {
    clearTimeout(this.maxRuntimeTimer);
    signalGroup(pgid, 'SIGTERM');
    // The deadline is re-read each round: a later kill() with a shorter grace (lease lost during a
    // graceful cancel) escalates sooner.
    while (liveGroupMembers(pgid).length > 0 && Date.now() < this.killDeadline) await sleep(25);
    if (liveGroupMembers(pgid).length === 0) return [];
    signalGroup(pgid, 'SIGKILL');
    await this.cgroup?.killAll();
    return waitForGroupGone(pgid, AFTER_SIGKILL_WAIT_MS);
  }

  private async onLeaderExit(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    this.leaderExited = true;
    clearTimeout(this.maxRuntimeTimer);
    const pgid = this.pid as number;
    let survivors: readonly number[];
    try {
      if (this.terminating !== undefined) {
        survivors = await this.terminating;
      } else if (liveGroupMembers(pgid).length > 0) {
        // The leader is the job: once it exits, what it left running in the background is not waited
        // for (it would hold the node's slot and the pipes open); it is killed outright.
        signalGroup(pgid, 'SIGKILL');
        await this.cgroup?.killAll();
        survivors = await waitForGroupGone(pgid, AFTER_SIGKILL_WAIT_MS);
      } else {
        survivors = [];
      }
      await this.drainPipes();
      await this.cgroup?.remove().catch(() => undefined);
    } catch {
      survivors = liveGroupMembers(pgid);
    }
    this.sequencer.flush();
    const reason =
      this.startFailure !== undefined
        ? 'spawn-failed'
        : this.killCause === undefined
          ? 'exited'
          : this.killCause === MAX_RUNTIME_CAUSE
            ? 'max-runtime'
            : 'killed';
    this.settle({
      exitCode: code,
      signal,
      reason,
      durationMs: Math.max(0, this.clock() - this.startedAt),
      ...(this.startFailure !== undefined && { message: this.startFailure }),
      ...(this.killCause !== undefined && { killCause: this.killCause }),
      survivors,
    });
  }

  private async drainPipes(): Promise<void> {
    const streams = [this.child?.stdout, this.child?.stderr].filter((s) => s != null && !s.closed);
    if (streams.length === 0) return;
    const closed = Promise.all(streams.map((s) => new Promise((r) => s?.once('close', r))));
    const timer = sleep(PIPE_DRAIN_MS, 'timeout' as const);
    if ((await Promise.race([closed, timer])) === 'timeout') {
      for (const s of streams) s?.destroy();
    }
  }

  private async settleSpawnFailed(err: unknown): Promise<void> {
    if (this.settled) return;
    const e = err as NodeJS.ErrnoException;
    const program = this.options.command[0];
    const why =
      e.code === 'ENOENT'
        ? `not found (looked in PATH=${this.env['PATH'] ?? SAFE_PATH} unless it is a path), or the work dir vanished`
        : e.code === 'EACCES'
          ? 'permission denied (not executable by the job user, or the work dir is not reachable)'
          : e.message;
    await this.cgroup?.remove().catch(() => undefined);
    this.settle({
      exitCode: null,
      signal: null,
      reason: 'spawn-failed',
      durationMs: Math.max(0, this.clock() - this.startedAt),
      message: `cannot start ${JSON.stringify(program)}: ${why}${e.code ? ` (${e.code})` : ''}`,
      survivors: [],
    });
  }

  private settle(exit: AttemptExit): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveExited(exit);
  }
}
