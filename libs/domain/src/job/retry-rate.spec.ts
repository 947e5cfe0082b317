import { afterRetry, retrySlot, type RetryRate } from './retry-rate';

describe("a tenant's retry rate limit (D3)", () => {
  const rate: RetryRate = { perSecond: 2, burst: 3 };

  it('lets a burst through at once, then spaces retries at the rate', () => {
    let tat: number | undefined;
    const starts: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      const slot = retrySlot(tat, 0, rate);
      starts.push(slot);
      tat = afterRetry(tat, 0, rate);
    }
    expect(starts).toEqual([0, 0, 0, 0, 500, 1_000, 1_500]);
  });

  it('recovers as time passes: a quiet tenant gets its burst back', () => {
    let tat: number | undefined;
    for (let i = 0; i < 10; i += 1) tat = afterRetry(tat, 0, rate);
    expect(retrySlot(tat, 0, rate)).toBeGreaterThan(0);
    expect(retrySlot(tat, 60_000, rate)).toBe(60_000);
  });
});
