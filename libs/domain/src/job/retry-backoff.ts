import { type RetryPolicy } from '@gantry/contracts';

/**
 * Exponential backoff with full jitter (D3): after the n-th failed attempt, wait a uniform draw
 * from [0, min(maxBackoff, initialBackoff * 2^(n-1))). Full jitter rather than a fixed delay
 * spreads the retries of a gang that failed together (a lost node fails many jobs at once), which
 * is what damps a retry storm; the cap keeps a long-failing job from drifting out of reach.
 */
export const backoffCeilingSeconds = (policy: RetryPolicy, failedAttempt: number): number =>
  Math.min(
    policy.maxBackoffSeconds,
    policy.initialBackoffSeconds * 2 ** Math.max(0, failedAttempt - 1),
  );

/**
 * `jitter` is the random draw in [0, 1), an input so a decision replays identically. The result
 * is whole milliseconds, so the notBefore it yields is exactly representable.
 */
export const backoffSeconds = (
  policy: RetryPolicy,
  failedAttempt: number,
  jitter: number,
): number => {
  const draw = Math.min(Math.max(jitter, 0), 1);
  return Math.floor(draw * backoffCeilingSeconds(policy, failedAttempt) * 1_000) / 1_000;
};
