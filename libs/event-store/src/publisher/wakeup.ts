/**
 * A one-slot alarm: `wait(ms)` ends on a `wake()` or after ms. A wake with nobody waiting is
 * remembered, so a notification that arrives while a batch is being published is not lost.
 */
export class Wakeup {
  private pending = false;
  private release: (() => void) | null = null;

  wake(): void {
    const release = this.release;
    if (release) {
      this.release = null;
      release();
    } else {
      this.pending = true;
    }
  }

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.release = null;
        resolve();
      }, ms);
      this.release = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
