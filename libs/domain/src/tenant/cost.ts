import { type JobSpec, type PoolPrices } from '@gantry/contracts';

/**
 * The cost model (FEATURES.md B3). A job's rate is what an hour of all its nodes costs at its
 * pool's prices; it is locked when the job is admitted, so a price change never reprices work
 * already accepted. Its projected cost is the rate over its expected runtime; its actual cost is
 * the rate over the time its attempts really ran.
 */

/** A job that says nothing of its runtime is assumed to run an hour: an estimate, stated as one. */
export const DEFAULT_EXPECTED_RUNTIME_SECONDS = 3_600;

/** Money is kept to a millionth of a unit: sums of float products drift otherwise. */
export const roundMoney = (amount: number): number => Math.round(amount * 1e6) / 1e6;

export const ratePerHourOf = (
  spec: Pick<JobSpec, 'nodes' | 'resources'>,
  prices: PoolPrices | undefined,
): number => {
  if (!prices) return 0;
  const perNode =
    spec.resources.cpu * prices.coreHour +
    (spec.resources.memoryMiB / 1024) * prices.memoryGiBHour +
    spec.resources.gpu * prices.gpuHour;
  return roundMoney(perNode * spec.nodes);
};

export const expectedRuntimeSecondsOf = (
  spec: Pick<JobSpec, 'expectedRuntimeSeconds' | 'maxRuntimeSeconds'>,
): number =>
  spec.expectedRuntimeSeconds ?? spec.maxRuntimeSeconds ?? DEFAULT_EXPECTED_RUNTIME_SECONDS;

export const costOf = (ratePerHour: number, seconds: number): number =>
  roundMoney((ratePerHour * seconds) / 3_600);

export interface JobPrice {
  readonly ratePerHour: number;
  readonly expectedRuntimeSeconds: number;
  readonly projectedCost: number;
}

export const priceJob = (
  spec: Pick<JobSpec, 'nodes' | 'resources' | 'expectedRuntimeSeconds' | 'maxRuntimeSeconds'>,
  prices: PoolPrices | undefined,
): JobPrice => {
  const ratePerHour = ratePerHourOf(spec, prices);
  const expectedRuntimeSeconds = expectedRuntimeSecondsOf(spec);
  return {
    ratePerHour,
    expectedRuntimeSeconds,
    projectedCost: costOf(ratePerHour, expectedRuntimeSeconds),
  };
};

/** What ends a running attempt: its own failure, or the job's end (any of its terminal facts). */
const ATTEMPT_ENDS: ReadonlySet<string> = new Set([
  'AttemptFailed',
  'JobSucceeded',
  'JobFailed',
  'JobCancelled',
  'JobDeadLettered',
  'LeaseExpired',
]);

/**
 * The seconds a job's attempts really ran, from its history: each attempt from its JobStarted to
 * the first fact that ends it. Staging inputs is not billed; time spent waiting in the queue or in
 * backoff is not either. An attempt whose end is not in the history (still running) counts up to
 * `now` when it is given, else not at all.
 */
export const runtimeSecondsOf = (
  history: readonly { readonly type: string; readonly occurredAt: string }[],
  now?: Date,
): number => {
  let total = 0;
  let startedAt: number | null = null;
  for (const event of history) {
    const at = Date.parse(event.occurredAt);
    if (event.type === 'JobStarted') startedAt ??= at;
    else if (startedAt !== null && ATTEMPT_ENDS.has(event.type)) {
      total += Math.max(0, at - startedAt);
      startedAt = null;
    }
  }
  if (startedAt !== null && now) total += Math.max(0, now.getTime() - startedAt);
  return total / 1_000;
};

/** The billing month of an instant, in UTC: `YYYY-MM`. */
export const billingMonthOf = (at: Date | string): string =>
  (typeof at === 'string' ? at : at.toISOString()).slice(0, 7);
