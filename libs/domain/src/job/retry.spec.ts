import fc from 'fast-check';
import { ErrorCodes, RetryPolicySchema, isGantryError, type JobEvent } from '@gantry/contracts';
import { aJob, at, commandsFor, iso, nodesOf, NOW } from '../../test/job.builders';
import { evolve, type JobState } from './job.aggregate';
import { decide } from './job.decide';
import { backoffCeilingSeconds, backoffSeconds } from './retry-backoff';

const c = commandsFor('j-1');
const apply = (state: JobState, events: readonly JobEvent[]): JobState =>
  events.reduce(evolve, state);

/** A running job whose first failure backs off up to 10 s (2.5 s at a draw of 0.25). */
const runningWithBackoff = () =>
  aJob()
    .withRetry({ initialBackoffSeconds: 10, maxBackoffSeconds: 60 })
    .submitted()
    .admitted()
    .queued()
    .leased()
    .started();

describe('backoff (D3): exponential, capped, full jitter', () => {
  const policy = RetryPolicySchema.parse({ initialBackoffSeconds: 5, maxBackoffSeconds: 300 });

  it.each([
    { failedAttempt: 1, ceiling: 5 },
    { failedAttempt: 2, ceiling: 10 },
    { failedAttempt: 3, ceiling: 20 },
    { failedAttempt: 6, ceiling: 160 },
    { failedAttempt: 7, ceiling: 300 },
    { failedAttempt: 20, ceiling: 300 },
  ])('after attempt $failedAttempt waits at most $ceiling s', ({ failedAttempt, ceiling }) => {
    expect(backoffCeilingSeconds(policy, failedAttempt)).toBe(ceiling);
    expect(backoffSeconds(policy, failedAttempt, 0)).toBe(0);
    expect(backoffSeconds(policy, failedAttempt, 0.5)).toBe(ceiling / 2);
  });

  it('stays within [0, min(max, initial * 2^(n-1))] for every policy, attempt and draw', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.001, max: 3_600, noNaN: true }),
        fc.double({ min: 0.001, max: 86_400, noNaN: true }),
        fc.integer({ min: 1, max: 20 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (initialBackoffSeconds, maxBackoffSeconds, n, jitter) => {
          const p = { ...policy, initialBackoffSeconds, maxBackoffSeconds };
          const b = backoffSeconds(p, n, jitter);
          expect(b).toBeGreaterThanOrEqual(0);
          expect(b).toBeLessThanOrEqual(
            Math.min(maxBackoffSeconds, initialBackoffSeconds * 2 ** (n - 1)),
          );
        },
      ),
    );
  });

  it('grows with the draw, so the draw alone spreads a gang of retries', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (n, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(backoffSeconds(policy, n, lo)).toBeLessThanOrEqual(backoffSeconds(policy, n, hi));
        },
      ),
    );
  });

  it('sets notBefore to now plus the backoff, and refuses a lease before it', () => {
    const history = runningWithBackoff();
    const events = decide(history.state(), c.exit(1, 0, 1, 0.25), NOW);
    const requeued = apply(history.state(), events);

    expect(events[2]).toEqual({
      type: 'JobRetryScheduled',
      data: {
        jobId: 'j-1',
        nextAttempt: 2,
        backoffSeconds: 2.5,
        notBefore: new Date(NOW.getTime() + 2_500).toISOString(),
        scheduledAt: NOW.toISOString(),
      },
    });
    const tooSoon = new Date(NOW.getTime() + 2_499);
    expect(() => decide(requeued, c.lease(2, nodesOf(1), iso(2_000)), tooSoon)).toThrow(
      expect.objectContaining({ code: ErrorCodes.BACKOFF_NOT_ELAPSED, retryable: true }),
    );
    const onTime = new Date(NOW.getTime() + 2_500);
    expect(decide(requeued, c.lease(2, nodesOf(1), iso(2_000)), onTime)).toHaveLength(1);
  });

  it("waits for the tenant's retry rate limit when it ends later than the backoff (D3)", () => {
    const history = runningWithBackoff();
    const throttled = new Date(NOW.getTime() + 7_000);
    const later = decide(history.state(), c.exit(1, 0, 1, 0.25), NOW, {
      retryNotBefore: throttled,
    });
    expect(later[2]).toMatchObject({
      type: 'JobRetryScheduled',
      data: { backoffSeconds: 7, notBefore: throttled.toISOString() },
    });
    // Under the limit, the job's own backoff stands.
    const own = decide(history.state(), c.exit(1, 0, 1, 0.25), NOW, { retryNotBefore: NOW });
    expect(own[2]).toMatchObject({ data: { backoffSeconds: 2.5 } });
  });
});

describe('retry budget (spec.retry.maxAttempts)', () => {
  /** Runs attempt after attempt, each failing as `fail` says, until the job stops retrying. */
  const failEveryAttempt = (
    maxAttempts: number,
    fail: (epoch: number) => ReturnType<typeof c.exit>,
  ) => {
    const history = aJob().withNodes(2).withRetry({ maxAttempts }).submitted().admitted().queued();
    let state = history.state();
    let now = NOW.getTime();
    const outcomes: string[] = [];
    for (let epoch = 1; epoch <= maxAttempts; epoch += 1) {
      now += 3_600_000; // past any backoff
      const clock = new Date(now);
      const leaseUntil = new Date(now + 30_000).toISOString();
      for (const command of [c.lease(epoch, nodesOf(2), leaseUntil), c.start(epoch), fail(epoch)]) {
        const events = decide(state, command, clock);
        state = apply(state, events);
        outcomes.push(...events.map((e) => e.type));
      }
    }
    return { state, outcomes };
  };

  it("retries until the last attempt, then dead-letters with every attempt's reason", () => {
    const { state, outcomes } = failEveryAttempt(3, (epoch) => c.exit(epoch, 1, epoch));

    expect(outcomes.filter((t) => t === 'JobRetryScheduled')).toHaveLength(2);
    expect(outcomes.at(-1)).toBe('JobDeadLettered');
    expect(state).toMatchObject({ state: 'DEAD_LETTER', attempt: 3 });
    expect(state.state !== 'NONE' && state.reason).toBe(
      'retry budget of 3 attempt(s) spent: ' +
        'attempt 1: rank 1 on node node-1 exited with code 1; ' +
        'attempt 2: rank 1 on node node-1 exited with code 2; ' +
        'attempt 3: rank 1 on node node-1 exited with code 3',
    );
  });

  it('counts lost nodes and expired leases against the same budget (C4: at most 3 tries)', () => {
    const { state } = failEveryAttempt(3, (epoch) =>
      epoch === 2 ? c.expire(epoch) : c.nodeLost(epoch, 'node-0'),
    );

    expect(state).toMatchObject({ state: 'DEAD_LETTER', attempt: 3 });
    expect(state.state !== 'NONE' && state.reason).toContain('attempt 2: lease 2 expired');
  });

  it('with a budget of one, the first failure dead-letters', () => {
    expect(failEveryAttempt(1, (epoch) => c.exit(epoch, 0, 1)).state.state).toBe('DEAD_LETTER');
  });
});

describe('non-retryable exit codes', () => {
  const running = () =>
    aJob()
      .withNodes(2)
      .withRetry({ maxAttempts: 3, nonRetryableExitCodes: [42, 77] })
      .submitted()
      .admitted()
      .queued()
      .leased()
      .started();

  it('fail the job at once, with the budget untouched', () => {
    const events = decide(running().state(), c.exit(1, 1, 77), NOW);

    expect(events.map((e) => e.type)).toEqual(['RankExited', 'AttemptFailed', 'JobFailed']);
    expect(events[2]).toEqual({
      type: 'JobFailed',
      data: {
        jobId: 'j-1',
        attempt: 1,
        reason:
          'attempt 1: rank 1 on node node-1 exited with code 77, which the retry policy marks non-retryable',
        failedAt: NOW.toISOString(),
      },
    });
  });

  it('leave every other code retryable', () => {
    const types = decide(running().state(), c.exit(1, 1, 43), NOW).map((e) => e.type);

    expect(types).toContain('JobRetryScheduled');
  });
});

it('a refusal is always a GantryError with a code, never a bare error', () => {
  try {
    decide(aJob().state(), c.queue(), at(0));
  } catch (err) {
    expect(isGantryError(err) && err.code).toBe(ErrorCodes.NOT_FOUND);
    return;
  }
  throw new Error('accepted');
});
