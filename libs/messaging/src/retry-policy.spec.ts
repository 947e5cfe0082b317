import { DEFAULT_RETRY_POLICY, retryDelayMs, type RetryPolicy } from './retry-policy';

describe('retryDelayMs', () => {
  const policy: RetryPolicy = { initialDelayMs: 100, multiplier: 2, maxDelayMs: 1_000 };

  it.each([
    { deliveryCount: 1, delayMs: 100 },
    { deliveryCount: 2, delayMs: 200 },
    { deliveryCount: 3, delayMs: 400 },
    { deliveryCount: 4, delayMs: 800 },
    { deliveryCount: 5, delayMs: 1_000 },
    { deliveryCount: 50, delayMs: 1_000 },
  ])('after delivery $deliveryCount waits $delayMs ms', ({ deliveryCount, delayMs }) => {
    expect(retryDelayMs(policy, deliveryCount)).toBe(delayMs);
  });

  it('stays at the cap however many deliveries there were', () => {
    expect(retryDelayMs(DEFAULT_RETRY_POLICY, 10_000)).toBe(DEFAULT_RETRY_POLICY.maxDelayMs);
  });

  it('treats a missing or nonsensical delivery count as the first', () => {
    expect(retryDelayMs(policy, 0)).toBe(100);
    expect(retryDelayMs(policy, -3)).toBe(100);
  });

  it('never shrinks as deliveries grow', () => {
    const delays = Array.from({ length: 30 }, (_, i) => retryDelayMs(DEFAULT_RETRY_POLICY, i + 1));
    expect(delays).toEqual([...delays].sort((a, b) => a - b));
  });
});
