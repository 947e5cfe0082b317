import { PeriodicTask } from './periodic';

describe('PeriodicTask', () => {
  it('never overlaps two runs, survives a failing one, and stops after the run in flight', async () => {
    let inFlight = 0;
    let most = 0;
    let runs = 0;
    const task = new PeriodicTask(async () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      runs += 1;
      await new Promise((resolve) => setTimeout(resolve, 15));
      inFlight -= 1;
      if (runs === 1) throw new Error('a failing pass');
    });
    task.start(5);
    await new Promise((resolve) => setTimeout(resolve, 80));
    await task.stop();
    const stoppedAt = runs;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(most).toBe(1);
    expect(stoppedAt).toBeGreaterThan(1);
    expect(runs).toBe(stoppedAt);
    expect(inFlight).toBe(0);
  });

  it('does not start with a period of 0', async () => {
    let runs = 0;
    const task = new PeriodicTask(async () => {
      runs += 1;
    });
    task.start(0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await task.stop();
    expect(runs).toBe(0);
  });
});
