import { spawn, type ChildProcess } from 'node:child_process';

/** Output kept per process: enough to explain a failure, bounded so a chatty service cannot grow it. */
const MAX_KEPT_OUTPUT = 256 * 1024;

export interface ServiceProcessOptions {
  /** A name for messages and the output callback: `controller`, `agent-node-1`. */
  readonly name: string;
  /** The TypeScript entry point, relative to the workspace root. */
  readonly entry: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Options for node itself, e.g. `--cpu-prof` (which NODE_OPTIONS refuses). */
  readonly nodeArgs?: readonly string[];
  /** Each complete line the process writes, on stdout or stderr. */
  readonly onLine?: (name: string, line: string) => void;
}

/**
 * One Gantry process (a service or an agent) run from its main.ts the way an operator runs it: a
 * real child process with its own pid, so a test can SIGKILL or SIGSTOP it like any crash.
 */
export class ServiceProcess {
  private kept = '';
  private partial = '';
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    private readonly onLine: ServiceProcessOptions['onLine'],
  ) {
    const take = (chunk: Buffer): void => this.take(chunk.toString('utf8'));
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static spawn(options: ServiceProcessOptions): ServiceProcess {
    const child = spawn(
      process.execPath,
      [...(options.nodeArgs ?? []), 'tools/run.js', options.entry],
      {
        cwd: options.cwd,
        env: options.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return new ServiceProcess(options.name, child, options.onLine);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The exit status once it exited on its own or by signal handling; null while running or if killed. */
  get exitCode(): number | null {
    return this.child.exitCode;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What the process wrote, the last MAX_KEPT_OUTPUT characters of it. */
  get output(): string {
    return this.kept;
  }

  /** Resolves once a line matching `pattern` was written; rejects if the process exits first. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.kept)) {
      if (!this.running) {
        throw new Error(`${this.name} exited before ${pattern}:\n${this.tail()}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name}: no ${pattern} within ${timeoutMs} ms:\n${this.tail()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after the grace period: how an orchestrator stops a process. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    // A stopped process (SIGSTOP in a chaos test) would never see SIGTERM.
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL: a crash, nothing gets to clean up. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  tail(lines = 40): string {
    return this.kept.split('\n').slice(-lines).join('\n');
  }

  private take(text: string): void {
    this.kept = (this.kept + text).slice(-MAX_KEPT_OUTPUT);
    if (!this.onLine) return;
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) if (line.length > 0) this.onLine(this.name, line);
  }
}
