/**
 * A tenant's retry rate limit (D3), pure: the generic cell rate algorithm, scheduling instead of
 * refusing. Each tenant has a theoretical arrival time (tat) for its next retry; a burst of
 * `burst` retries may start at once, and beyond it retries are spaced `1 / perSecond` apart. A
 * retry is never refused, only given a later earliest start, so no job is lost to the limit and a
 * storm of failures becomes a steady trickle the queue can absorb.
 */
export interface RetryRate {
  readonly perSecond: number;
  readonly burst: number;
}

export const DEFAULT_TENANT_RETRY_RATE: RetryRate = { perSecond: 5, burst: 20 };

/** The earliest start a retry of the tenant may have now (epoch ms); `now` when under the limit. */
export const retrySlot = (tat: number | undefined, now: number, rate: RetryRate): number => {
  const interval = 1_000 / rate.perSecond;
  return Math.max(now, (tat ?? now) - rate.burst * interval);
};

/**
 * The tenant's tat once a retry was scheduled now. A retry counts when it is scheduled, whatever
 * its own backoff: a storm is many retries decided at once, however late each may start.
 */
export const afterRetry = (tat: number | undefined, now: number, rate: RetryRate): number =>
  Math.max(tat ?? now, now) + 1_000 / rate.perSecond;
