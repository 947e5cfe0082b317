/**
 * How long a retryable failure waits before its next delivery: exponential in the delivery count,
 * capped. Deterministic on purpose (no jitter): a consumer handles its messages one at a time, so
 * there is no herd to spread, and a decision that can be replayed is easier to test and to reason about.
 */
export interface RetryPolicy {
  /** Delay after the first failed delivery. */
  readonly initialDelayMs: number;
  readonly multiplier: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  initialDelayMs: 500,
  multiplier: 2,
  maxDelayMs: 60_000,
};

/** The nak delay after delivery number `deliveryCount` (1-based) failed. */
export const retryDelayMs = (policy: RetryPolicy, deliveryCount: number): number => {
  const failures = Math.max(1, Math.floor(deliveryCount));
  const delay = policy.initialDelayMs * policy.multiplier ** (failures - 1);
  // `**` overflows to Infinity long before the cap matters; min() keeps that finite.
  return Math.round(Math.min(policy.maxDelayMs, delay));
};
