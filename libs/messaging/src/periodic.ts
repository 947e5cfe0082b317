/**
 * A task a service runs every so often (a sweep, a watch, a reconciliation): one run at a time,
 * never overlapping however long one takes, its failure left for the next run to retry, and the
 * timer never keeping the process alive. `stop` waits for the run in flight, so a service shuts
 * down only once its last pass has finished.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly run: () => Promise<unknown>) {}

  /** Starts running every `everyMs`; 0 or less (or started already) does nothing. */
  start(everyMs: number): void {
    if (everyMs <= 0 || this.timer) return;
    this.timer = setInterval(() => this.runOnce(), everyMs);
    this.timer.unref();
  }

  /** One run now, after any in flight; what it throws is the next run's to retry. */
  runOnce(): Promise<unknown> {
    this.running = this.running.then(() => this.run().catch(() => undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
