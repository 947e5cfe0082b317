import { ErrorCodes, type JobEvent } from '@gantry/contracts';
import { aJob, at, commandsFor, iso, nodesOf, NOW } from '../../test/job.builders';
import {
  evolve,
  isLegalInState,
  isLegalTransition,
  stateAfterEvent,
  type JobState,
  type SubmittedJob,
} from './job.aggregate';
import { decide } from './job.decide';

/** C6: a preempted attempt ends without being a failure, and the job goes back to the queue. */
const c = commandsFor('j-1');
const apply = (state: JobState, events: readonly JobEvent[]): JobState =>
  events.reduce(evolve, state);
const submitted = (state: JobState): SubmittedJob => {
  if (state.state === 'NONE') throw new Error('not submitted');
  return state;
};
const errorCode = (run: () => unknown): string | undefined => {
  try {
    run();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

const running = (nodes = 1) =>
  aJob().withNodes(nodes).submitted().admitted().queued().leased().started();

describe('PreemptAttempt (C6)', () => {
  it.each([
    ['LEASED', () => aJob().submitted().admitted().queued().leased()],
    ['STAGING', () => aJob().submitted().admitted().queued().leased().staging()],
    ['RUNNING', () => running()],
  ])(
    'records the intent under the live epoch of a %s attempt, leaving the state',
    (state, given) => {
      const history = given();
      const events = decide(history.state(), c.preempt(history.leaseEpoch), NOW);

      expect(events).toEqual([
        {
          type: 'AttemptPreemptionRequested',
          data: {
            jobId: 'j-1',
            attempt: 1,
            leaseEpoch: 1,
            preemptedBy: 'j-urgent',
            reason: 'preempted by job j-urgent',
            requestedAt: NOW.toISOString(),
          },
        },
      ]);
      const after = submitted(apply(history.state(), events));
      expect(after.state).toBe(state);
      expect(after.leaseActive).toBe(true);
      expect(isLegalInState(state as SubmittedJob['state'], 'AttemptPreemptionRequested')).toBe(
        true,
      );
    },
  );

  it('refuses a stale epoch: a preemption planned against an attempt that has since ended', () => {
    const history = running().retried().leased();
    expect(errorCode(() => decide(history.state(), c.preempt(1), NOW))).toBe(
      ErrorCodes.LEASE_STALE_EPOCH,
    );
  });

  it('refuses a job that holds no lease', () => {
    const history = aJob().submitted().admitted().queued();
    expect(errorCode(() => decide(history.state(), c.preempt(1), NOW))).toBe(
      ErrorCodes.LEASE_STALE_EPOCH,
    );
  });

  it('answers a redelivery, or a preemption of an attempt being cancelled, with nothing', () => {
    const preempting = running();
    const once = apply(preempting.state(), decide(preempting.state(), c.preempt(1), NOW));
    expect(decide(once, c.preempt(1, 'j-other'), NOW)).toEqual([]);
    expect(decide(running().cancelRequested().state(), c.preempt(1), NOW)).toEqual([]);
  });

  it('requeues the job at once, with no backoff, once every rank has stopped', () => {
    const history = running(2);
    let state = apply(history.state(), decide(history.state(), c.preempt(1), NOW));
    // A signalled rank exits non-zero: not a failure while a preemption is under way.
    const first = decide(state, c.exit(1, 1, 143), NOW);
    expect(first.map((e) => e.type)).toEqual(['RankExited']);
    state = apply(state, first);
    const last = decide(state, c.exit(1, 0, 0), NOW);
    expect(last.map((e) => e.type)).toEqual(['RankExited', 'AttemptPreempted']);
    expect(last[1]).toMatchObject({
      data: { attempt: 1, leaseEpoch: 1, preemptedBy: 'j-urgent', exitCodes: [0, 143] },
    });
    const requeued = submitted(apply(state, last));
    expect(requeued).toMatchObject({
      state: 'QUEUED',
      leaseActive: false,
      nodes: [],
      notBefore: null,
      preemptRequest: null,
      preemptions: 1,
      failures: [],
    });
    // Fenced from now on, and leasable at once under a newer epoch.
    expect(errorCode(() => decide(requeued, c.exit(1, 0, 0), NOW))).toBe(
      ErrorCodes.LEASE_STALE_EPOCH,
    );
    expect(decide(requeued, c.lease(2, nodesOf(2, 'spare')), NOW)[0]).toMatchObject({
      type: 'JobLeased',
      data: { attempt: 2, leaseEpoch: 2 },
    });
  });

  it('lets a gang that finished cleanly anyway succeed', () => {
    const history = running();
    const state = apply(history.state(), decide(history.state(), c.preempt(1), NOW));
    expect(decide(state, c.exit(1, 0, 0), NOW).map((e) => e.type)).toEqual([
      'RankExited',
      'JobSucceeded',
    ]);
  });

  it.each([
    ['STAGING', 143, () => aJob().submitted().admitted().queued().leased().staging()],
    // A clean exit before JobStarted: LEASED -> SUCCEEDED would skip RUNNING.
    ['LEASED', 0, () => aJob().submitted().admitted().queued().leased()],
  ])(
    'takes the exit of a rank stopped while %s (code %i) as the preemption, never a success',
    (_, exitCode, given) => {
      const history = given();
      const state = apply(history.state(), decide(history.state(), c.preempt(1), NOW));
      expect(decide(state, c.exit(1, 0, exitCode), NOW).map((e) => e.type)).toEqual([
        'RankExited',
        'AttemptPreempted',
      ]);
    },
  );

  it.each([
    ['the lease expires', c.expire(1), ['LeaseExpired', 'AttemptPreempted']],
    ['a node of the gang is lost', c.nodeLost(1, 'node-0'), ['AttemptPreempted']],
  ])('ends as a preemption, not a failure, when %s while the ranks stop', (_, command, types) => {
    const history = running();
    const state = apply(history.state(), decide(history.state(), c.preempt(1), NOW));
    const events = decide(state, command, NOW);
    expect(events.map((e) => e.type)).toEqual(types);
    expect(submitted(apply(state, events))).toMatchObject({ state: 'QUEUED', failures: [] });
  });

  it('still records a checkpoint the rank writes in its grace period', () => {
    const history = running();
    const state = apply(history.state(), decide(history.state(), c.preempt(1), NOW));
    const checkpoint = { name: 'ckpt.bin', ref: 'file-1', size: 3, sha256: 'a'.repeat(64) };
    const events = decide(state, c.checkpoint(1, 0, checkpoint), NOW, {
      storedFiles: new Map([['file-1', { size: 3, sha256: 'a'.repeat(64) }]]),
    });
    expect(events.map((e) => e.type)).toEqual(['JobCheckpointed']);
  });
});

describe('the retry budget does not count preemptions', () => {
  it('grows the attempt number but charges only attempts allowed to finish', () => {
    // maxAttempts 2: preempted twice, then one failure still leaves a retry.
    const history = aJob()
      .withRetry({ maxAttempts: 2 })
      .submitted()
      .admitted()
      .queued()
      .leased()
      .started()
      .preempted()
      .leased()
      .started()
      .preempted()
      .leased()
      .started();
    expect(submitted(history.state())).toMatchObject({ attempt: 3, preemptions: 2 });

    const failed = decide(history.state(), c.exit(3, 0, 1), NOW);
    expect(failed.map((e) => e.type)).toEqual(['RankExited', 'AttemptFailed', 'JobRetryScheduled']);
    expect(failed[2]).toMatchObject({ data: { nextAttempt: 4 } });

    // The second failure spends the budget of 2.
    const again = submitted(apply(history.state(), failed));
    const later = at(100_000);
    const retried = apply(again, decide(again, c.lease(4, nodesOf(1), iso(200_000)), later));
    const started = apply(retried, decide(retried, c.start(4), later));
    expect(decide(started, c.exit(4, 0, 1), later).map((e) => e.type)).toEqual([
      'RankExited',
      'AttemptFailed',
      'JobDeadLettered',
    ]);
  });
});

describe('the state machine readers (chaos checks, e2e)', () => {
  it('moves a preempted attempt back to QUEUED, legally from every leased state', () => {
    expect(stateAfterEvent({ type: 'AttemptPreempted', data: {} })).toBe('QUEUED');
    expect(stateAfterEvent({ type: 'AttemptPreemptionRequested', data: {} })).toBeUndefined();
    for (const from of ['LEASED', 'STAGING', 'RUNNING'] as const)
      expect(isLegalTransition(from, 'QUEUED')).toBe(true);
  });

  it.each(['QUEUED', 'SUCCEEDED', 'PENDING'] as const)(
    'refuses a preemption request recorded in %s',
    (state) => expect(isLegalInState(state, 'AttemptPreemptionRequested')).toBe(false),
  );
});
