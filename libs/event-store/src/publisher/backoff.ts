export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 5_000, factor: 2 };

/**
 * The wait before retry number `failures` (1 = after the first failure): exponential, capped.
 * `jitter` in [0, 1) is an input so the schedule is deterministic under test; it spreads retries
 * over the upper half of the step so replicas that failed together do not retry together.
 */
export const backoffDelay = (
  failures: number,
  jitter: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
): number => {
  if (failures <= 0) return 0;
  const step = Math.min(policy.maxMs, policy.initialMs * policy.factor ** (failures - 1));
  return Math.round(step / 2 + (step / 2) * jitter);
};
