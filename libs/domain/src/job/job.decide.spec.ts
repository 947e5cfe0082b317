import {
  ErrorCodes,
  isGantryError,
  JobSpecSchema,
  type ErrorCode,
  type JobCommand,
  type JobEvent,
} from '@gantry/contracts';
import {
  aJob,
  at,
  commandsFor,
  iso,
  nodesOf,
  NOW,
  type JobHistoryBuilder,
} from '../../test/job.builders';
import {
  evolve,
  initialJobState,
  legalTransitions,
  stateAfterEvent,
  type JobState,
  type JobStateName,
} from './job.aggregate';
import { decide } from './job.decide';

/**
 * The job aggregate, as "given events, when command, then events (or error code)"
 * (CONVENTIONS.md, "Tests").
 */
const c = commandsFor('j-1');

const decideAfter = (given: JobHistoryBuilder, when: JobCommand, now: Date = NOW): JobEvent[] =>
  decide(given.state(), when, now);

/** The code of the refusal, or 'accepted'. Anything but a GantryError is a bug and rethrown. */
const outcomeOf = (
  given: JobHistoryBuilder,
  when: JobCommand,
  now: Date = NOW,
): ErrorCode | 'accepted' => {
  try {
    decideAfter(given, when, now);
    return 'accepted';
  } catch (err) {
    if (isGantryError(err)) return err.code;
    throw err;
  }
};

const refusalOf = (given: JobHistoryBuilder, when: JobCommand, now: Date = NOW) => {
  try {
    decideAfter(given, when, now);
  } catch (err) {
    if (isGantryError(err)) return err;
    throw err;
  }
  throw new Error(`${when.type} was accepted`);
};

const apply = (state: JobState, events: readonly JobEvent[]): JobState =>
  events.reduce(evolve, state);

const running = (nodes = 1) =>
  aJob().withNodes(nodes).submitted().admitted().queued().leased().started();
const leased = () => aJob().submitted().admitted().queued().leased();
const staging = () => leased().staging();
const once = { maxAttempts: 1 };
const exit42Fatal = { nonRetryableExitCodes: [42] };
/** The diamond a -> (b, c) -> d (D5), blocked on its steps, with all but d ended. */
const diamondAtD = () =>
  aJob()
    .withSteps()
    .submitted()
    .blockedOnSteps()
    .stepRan('a')
    .stepRan('b')
    .stepRan('c')
    .stepSubmitted('d');

interface TransitionCase {
  readonly name: string;
  readonly given: () => JobHistoryBuilder;
  readonly when: JobCommand;
  readonly then: readonly JobEvent['type'][];
  readonly to: JobStateName;
}

const transitions: readonly TransitionCase[] = [
  {
    name: 'submit',
    given: () => aJob(),
    when: c.submit(aJob().spec),
    then: ['JobSubmitted'],
    to: 'PENDING',
  },
  {
    name: 'admit',
    given: () => aJob().submitted(),
    when: c.admit(),
    then: ['JobAdmitted'],
    to: 'ADMITTED',
  },
  {
    name: 'reject',
    given: () => aJob().submitted(),
    when: c.reject(),
    then: ['JobRejected'],
    to: 'REJECTED',
  },
  {
    name: 'cancel a pending job',
    given: () => aJob().submitted(),
    when: c.cancel(),
    then: ['JobCancelled'],
    to: 'CANCELLED',
  },
  {
    name: 'queue',
    given: () => aJob().submitted().admitted(),
    when: c.queue(),
    then: ['JobQueued'],
    to: 'QUEUED',
  },
  {
    name: 'block on dependencies',
    given: () => aJob().submitted().admitted(),
    when: c.block(),
    then: ['JobBlocked'],
    to: 'BLOCKED',
  },
  {
    name: 'hold an admitted job',
    given: () => aJob().submitted().admitted(),
    when: c.hold(),
    then: ['JobHeld'],
    to: 'HELD',
  },
  {
    name: 'cancel an admitted job',
    given: () => aJob().submitted().admitted(),
    when: c.cancel(),
    then: ['JobCancelled'],
    to: 'CANCELLED',
  },
  {
    name: 'queue once unblocked',
    given: () => aJob().submitted().admitted().blocked(),
    when: c.queue(),
    then: ['JobQueued'],
    to: 'QUEUED',
  },
  {
    name: 'hold a blocked job',
    given: () => aJob().submitted().admitted().blocked(),
    when: c.hold(),
    then: ['JobHeld'],
    to: 'HELD',
  },
  {
    name: 'cancel a blocked job',
    given: () => aJob().submitted().admitted().blocked(),
    when: c.cancel(),
    then: ['JobCancelled'],
    to: 'CANCELLED',
  },
  {
    name: 'lease the gang',
    given: () => aJob().submitted().admitted().queued(),
    when: c.lease(1, nodesOf(1)),
    then: ['JobLeased'],
    to: 'LEASED',
  },
  {
    name: 'hold a queued job',
    given: () => aJob().submitted().admitted().queued(),
    when: c.hold(),
    then: ['JobHeld'],
    to: 'HELD',
  },
  {
    name: 'cancel a queued job',
    given: () => aJob().submitted().admitted().queued(),
    when: c.cancel(),
    then: ['JobCancelled'],
    to: 'CANCELLED',
  },
  {
    name: 'release to ADMITTED',
    given: () => aJob().submitted().admitted().held(),
    when: c.release(),
    then: ['JobReleased'],
    to: 'ADMITTED',
  },
  {
    name: 'release to BLOCKED',
    given: () => aJob().submitted().admitted().blocked().held(),
    when: c.release(),
    then: ['JobReleased'],
    to: 'BLOCKED',
  },
  {
    name: 'release to QUEUED',
    given: () => aJob().submitted().admitted().queued().held(),
    when: c.release(),
    then: ['JobReleased'],
    to: 'QUEUED',
  },
  {
    name: 'cancel a held job',
    given: () => aJob().submitted().admitted().held(),
    when: c.cancel(),
    then: ['JobCancelled'],
    to: 'CANCELLED',
  },
  {
    name: 'start staging',
    given: leased,
    when: c.stage(1),
    then: ['JobStagingStarted'],
    to: 'STAGING',
  },
  {
    name: 'start with nothing to stage',
    given: leased,
    when: c.start(1),
    then: ['JobStarted'],
    to: 'RUNNING',
  },
  {
    name: 'lease expires before the start',
    given: leased,
    when: c.expire(1),
    then: ['LeaseExpired', 'JobRetryScheduled'],
    to: 'QUEUED',
  },
  {
    name: 'a rank fails staging with a non-retryable code',
    given: () => aJob().withRetry(exit42Fatal).submitted().admitted().queued().leased(),
    when: c.exit(1, 0, 42),
    then: ['RankExited', 'AttemptFailed', 'JobFailed'],
    to: 'FAILED',
  },
  {
    name: 'node lost while leased, no budget left',
    given: () => aJob().withRetry(once).submitted().admitted().queued().leased(),
    when: c.nodeLost(1, 'node-0'),
    then: ['AttemptFailed', 'JobDeadLettered'],
    to: 'DEAD_LETTER',
  },
  {
    name: 'cancel while leased completes when the rank reports',
    given: () => leased().cancelRequested(),
    when: c.exit(1, 0, 137),
    then: ['RankExited', 'JobCancelled'],
    to: 'CANCELLED',
  },
  {
    name: 'start after staging',
    given: staging,
    when: c.start(1),
    then: ['JobStarted'],
    to: 'RUNNING',
  },
  {
    name: 'staging fails, retried',
    given: staging,
    when: c.exit(1, 0, 3),
    then: ['RankExited', 'AttemptFailed', 'JobRetryScheduled'],
    to: 'QUEUED',
  },
  {
    name: 'staging fails with a non-retryable code',
    given: () => aJob().withRetry(exit42Fatal).submitted().admitted().queued().leased().staging(),
    when: c.exit(1, 0, 42),
    then: ['RankExited', 'AttemptFailed', 'JobFailed'],
    to: 'FAILED',
  },
  {
    name: 'lease expires while staging, no budget left',
    given: () => aJob().withRetry(once).submitted().admitted().queued().leased().staging(),
    when: c.expire(1),
    then: ['LeaseExpired', 'JobDeadLettered'],
    to: 'DEAD_LETTER',
  },
  {
    name: 'cancel while staging completes when the node is lost',
    given: () => staging().cancelRequested(),
    when: c.nodeLost(1, 'node-0'),
    then: ['JobCancelled'],
    to: 'CANCELLED',
  },
  {
    name: 'every rank exits 0',
    given: () => running(),
    when: c.exit(1, 0, 0),
    then: ['RankExited', 'JobSucceeded'],
    to: 'SUCCEEDED',
  },
  {
    name: 'node lost while running, retried',
    given: () => running(),
    when: c.nodeLost(1, 'node-0'),
    then: ['AttemptFailed', 'JobRetryScheduled'],
    to: 'QUEUED',
  },
  {
    name: 'a non-retryable exit while running',
    given: () => aJob().withRetry(exit42Fatal).submitted().admitted().queued().leased().started(),
    when: c.exit(1, 0, 42),
    then: ['RankExited', 'AttemptFailed', 'JobFailed'],
    to: 'FAILED',
  },
  {
    name: 'a rank killed at maxRuntimeSeconds, with retries left',
    given: () => running(),
    when: c.exit(1, 0, 143, 0.5, 'max-runtime'),
    then: ['RankExited', 'AttemptFailed', 'JobFailed'],
    to: 'FAILED',
  },
  {
    name: 'the last attempt fails',
    given: () => aJob().withRetry(once).submitted().admitted().queued().leased().started(),
    when: c.exit(1, 0, 1),
    then: ['RankExited', 'AttemptFailed', 'JobDeadLettered'],
    to: 'DEAD_LETTER',
  },
  {
    name: 'cancel while running completes when the lease expires',
    given: () => running().cancelRequested(),
    when: c.expire(1),
    then: ['LeaseExpired', 'JobCancelled'],
    to: 'CANCELLED',
  },
  // A job with steps (D5) ends from BLOCKED, and only a retry of its steps leaves that end:
  {
    name: 'the last step of a job with steps succeeds',
    given: diamondAtD,
    when: c.stepOutcome('d'),
    then: ['StepSucceeded', 'StepsSucceeded'],
    to: 'SUCCEEDED',
  },
  {
    name: 'the last step of a job with steps fails',
    given: diamondAtD,
    when: c.stepOutcome('d', 'FAILED'),
    then: ['StepFailed', 'StepsFailed'],
    to: 'FAILED',
  },
  {
    name: 'retry a chosen step of a job whose steps succeeded',
    given: () => diamondAtD().stepSucceeded('d').stepsSucceeded(),
    when: c.retrySteps(['d']),
    then: ['StepsRetried'],
    to: 'BLOCKED',
  },
  {
    name: 'retry the failed steps of a job',
    given: () => diamondAtD().stepFailed('d').stepsFailed(['d']),
    when: c.retrySteps(),
    then: ['StepsRetried'],
    to: 'BLOCKED',
  },
  {
    name: 'a running job fans out to child jobs (D5)',
    given: () => aJob().submitted().admitted().queued().leased().started(),
    when: {
      type: 'ReportAttemptExit',
      data: {
        ...(c.exit(1, 0, 0) as Extract<JobCommand, { type: 'ReportAttemptExit' }>).data,
        children: [
          {
            name: 'part',
            spec: JobSpecSchema.parse({ command: ['true'], resources: { cpu: 1, memoryMiB: 64 } }),
          },
        ],
      },
    },
    then: ['RankExited', 'JobFannedOut'],
    to: 'BLOCKED',
  },
  // Facts that stay in the state they find:
  {
    name: 'cancel a running job (the intent)',
    given: () => running(),
    when: c.cancel(),
    then: ['JobCancelRequested'],
    to: 'RUNNING',
  },
  {
    name: 'one rank of two exits 0',
    given: () => running(2),
    when: c.exit(1, 1, 0),
    then: ['RankExited'],
    to: 'RUNNING',
  },
];

describe('legal transitions', () => {
  it.each(transitions)('$name: then $then, now $to', ({ given, when, then, to }) => {
    const history = given();
    const events = decideAfter(history, when);

    expect(events.map((e) => e.type)).toEqual(then);
    expect(apply(history.state(), events).state).toBe(to);
  });

  it('the table above exercises every edge of legalTransitions', () => {
    const exercised = new Set(
      transitions.map(({ given, to }) => `${given().state().state}->${to}`),
    );
    const edges = Object.entries(legalTransitions).flatMap(([from, tos]) =>
      tos.map((to) => `${from}->${to}`),
    );

    expect(edges.filter((edge) => !exercised.has(edge))).toEqual([]);
  });
});

describe('then events, in full', () => {
  it('a submission records the spec, the key and the time, under the stream identity', () => {
    const spec = aJob().withNodes(2).spec;

    expect(decideAfter(aJob('j-1'), c.submit(spec, 'key-1'))).toEqual([
      {
        type: 'JobSubmitted',
        data: { jobId: 'j-1', spec, idempotencyKey: 'key-1', submittedAt: NOW.toISOString() },
      },
    ]);
  });

  it('admits and queues in one decision when asked to, the same two facts in order', () => {
    const given = aJob('j-1').submitted();
    expect(
      decideAfter(given, { type: 'AdmitJob', data: { jobId: 'j-1', andQueue: true } }),
    ).toEqual([
      { type: 'JobAdmitted', data: { jobId: 'j-1', admittedAt: NOW.toISOString() } },
      { type: 'JobQueued', data: { jobId: 'j-1', queuedAt: NOW.toISOString() } },
    ]);
  });

  it('a rank killed at its runtime limit fails the job, saying so, without spending retries', () => {
    const given = aJob('j-1').withMaxRuntime(60).submitted().admitted().queued().leased().started();
    const events = decideAfter(given, c.exit(1, 0, 143, 0.5, 'max-runtime'));
    expect(events.at(-1)).toMatchObject({
      type: 'JobFailed',
      data: { reason: expect.stringMatching(/maxRuntimeSeconds \(60 s\).*same limit/) },
    });
    // The cause rides on the attempt's failure, so the node breaker (C9) can leave it uncounted.
    expect(events.find((e) => e.type === 'AttemptFailed')?.data).toMatchObject({
      cause: 'max-runtime',
    });
  });

  it('a lease records attempt, epoch, the gang by rank and the expiry', () => {
    const given = aJob().withNodes(2).submitted().admitted().queued();
    const gang = [
      { nodeId: 'node-b', rank: 1 },
      { nodeId: 'node-a', rank: 0 },
    ];

    expect(decideAfter(given, c.lease(7, gang, iso(1_030)))).toEqual([
      {
        type: 'JobLeased',
        data: {
          jobId: 'j-1',
          attempt: 1,
          leaseEpoch: 7,
          nodes: [
            { nodeId: 'node-a', rank: 0 },
            { nodeId: 'node-b', rank: 1 },
          ],
          leaseExpiresAt: iso(1_030),
          leasedAt: NOW.toISOString(),
        },
      },
    ]);
  });

  it('the state carries attempt, epoch, gang, exit codes, timestamps and the reason', () => {
    const history = running(2).rankExited(1, 0).rankExited(0, 0).succeeded();

    expect(history.state()).toMatchObject({
      tenant: 'acme',
      jobId: 'j-1',
      state: 'SUCCEEDED',
      attempt: 1,
      leaseEpoch: 1,
      leaseActive: false,
      nodes: nodesOf(2),
      exitCodes: [0, 0],
      submittedAt: iso(1),
      admittedAt: iso(2),
      queuedAt: iso(3),
      startedAt: iso(5),
      finishedAt: iso(8),
      reason: null,
    });
  });
});

describe('illegal commands', () => {
  const terminal: Record<string, () => JobHistoryBuilder> = {
    SUCCEEDED: () => running().rankExited(0, 0).succeeded(),
    FAILED: () => running().failed(),
    CANCELLED: () => aJob().submitted().cancelled(),
    DEAD_LETTER: () => running().deadLettered(),
    REJECTED: () => aJob().submitted().rejected(),
  };

  it.each([
    {
      name: 'admit a job that does not exist',
      given: () => aJob(),
      when: c.admit(),
      code: ErrorCodes.NOT_FOUND,
    },
    {
      name: 'submit again without the same key',
      given: () => aJob().submitted('key-1'),
      when: c.submit(aJob().spec, 'key-2'),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'admit twice',
      given: () => aJob().submitted().admitted(),
      when: c.admit(),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'reject an admitted job',
      given: () => aJob().submitted().admitted(),
      when: c.reject(),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'queue before admission',
      given: () => aJob().submitted(),
      when: c.queue(),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'lease before admission',
      given: () => aJob().submitted(),
      when: c.lease(1, nodesOf(1)),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'lease before queueing',
      given: () => aJob().submitted().admitted(),
      when: c.lease(1, nodesOf(1)),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'lease a held job',
      given: () => aJob().submitted().admitted().queued().held(),
      when: c.lease(1, nodesOf(1)),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'lease twice',
      given: leased,
      when: c.lease(2, nodesOf(1)),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'block a queued job',
      given: () => aJob().submitted().admitted().queued(),
      when: c.block(),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'hold a pending job',
      given: () => aJob().submitted(),
      when: c.hold(),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'hold a running job',
      given: () => running(),
      when: c.hold(),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'release a job that is not held',
      given: () => aJob().submitted().admitted().queued(),
      when: c.release(),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'start a queued job',
      given: () => aJob().submitted().admitted().queued(),
      when: c.start(1),
      code: ErrorCodes.LEASE_STALE_EPOCH,
    },
    {
      name: 'a clean exit before the start',
      given: leased,
      when: c.exit(1, 0, 0),
      code: ErrorCodes.ILLEGAL_TRANSITION,
    },
    {
      name: 'a lease short of the gang',
      given: () => aJob().withNodes(2).submitted().admitted().queued(),
      when: c.lease(1, nodesOf(1)),
      code: ErrorCodes.VALIDATION_FAILED,
    },
    {
      name: 'a lease with a rank twice',
      given: () => aJob().withNodes(2).submitted().admitted().queued(),
      when: c.lease(1, [
        { nodeId: 'a', rank: 0 },
        { nodeId: 'b', rank: 0 },
      ]),
      code: ErrorCodes.VALIDATION_FAILED,
    },
    {
      name: 'a lease with a node twice',
      given: () => aJob().withNodes(2).submitted().admitted().queued(),
      when: c.lease(1, [
        { nodeId: 'a', rank: 0 },
        { nodeId: 'a', rank: 1 },
      ]),
      code: ErrorCodes.VALIDATION_FAILED,
    },
    {
      name: 'a lease that has already expired',
      given: () => aJob().submitted().admitted().queued(),
      when: c.lease(1, nodesOf(1), iso(999)),
      code: ErrorCodes.VALIDATION_FAILED,
    },
    {
      name: 'an exit of a rank outside the gang',
      given: () => running(2),
      when: c.exit(1, 2, 0),
      code: ErrorCodes.VALIDATION_FAILED,
    },
    {
      name: 'the loss of a node outside the gang',
      given: () => running(2),
      when: c.nodeLost(1, 'elsewhere'),
      code: ErrorCodes.VALIDATION_FAILED,
    },
    {
      name: 'a command for another job',
      given: () => aJob('j-1').submitted(),
      when: commandsFor('j-2').admit(),
      code: ErrorCodes.VALIDATION_FAILED,
    },
    ...Object.entries(terminal).flatMap(([state, given]) => [
      {
        name: `cancel a ${state} job`,
        given,
        when: c.cancel(),
        code: ErrorCodes.ILLEGAL_TRANSITION,
      },
      { name: `queue a ${state} job`, given, when: c.queue(), code: ErrorCodes.ILLEGAL_TRANSITION },
      { name: `hold a ${state} job`, given, when: c.hold(), code: ErrorCodes.ILLEGAL_TRANSITION },
      {
        name: `report an exit to a ${state} job`,
        given,
        when: c.exit(1, 0, 0),
        code: ErrorCodes.LEASE_STALE_EPOCH,
      },
    ]),
  ])('$name: refused with $code', ({ given, when, code }) => {
    expect(outcomeOf(given(), when)).toBe(code);
  });

  it('says why, and which state refused it', () => {
    const error = refusalOf(aJob().submitted().admitted(), c.admit());

    expect(error).toMatchObject({
      code: ErrorCodes.ILLEGAL_TRANSITION,
      retryable: false,
      details: { jobId: 'j-1', state: 'ADMITTED', command: 'AdmitJob' },
    });
  });

  it('answers a repeated submission with the same key with no events, not a second job', () => {
    expect(decideAfter(aJob().submitted('key-1'), c.submit(aJob().spec, 'key-1'))).toEqual([]);
  });
});

describe('the lease epoch fences worker-side reports (invariant 5)', () => {
  /** Attempt 1 under epoch 1 failed; attempt 2 runs under epoch 2. */
  const secondAttempt = () => running(2).retried().leased(nodesOf(2, 'other')).started();

  it.each([
    { name: 'an exit', when: c.exit(1, 0, 0) },
    { name: 'a start', when: c.start(1) },
    { name: 'a staging start', when: c.stage(1) },
    { name: 'a node loss', when: c.nodeLost(1, 'node-0') },
    { name: 'a lease expiry', when: c.expire(1) },
    { name: 'an exit under an epoch from the future', when: c.exit(3, 0, 0) },
  ])('refuses $name under a stale epoch, and names the live one', ({ when }) => {
    const error = refusalOf(secondAttempt(), when);

    expect(error).toMatchObject({
      code: ErrorCodes.LEASE_STALE_EPOCH,
      retryable: false,
      details: { jobId: 'j-1', current: 2 },
    });
  });

  it('accepts the same report under the live epoch', () => {
    expect(decideAfter(secondAttempt(), c.exit(2, 0, 0)).map((e) => e.type)).toEqual([
      'RankExited',
    ]);
  });

  it('refuses the other rank of a failed attempt: its lease ended with the failure', () => {
    const history = running(2);
    const failed = apply(history.state(), decideAfter(history, c.exit(1, 0, 1)));

    expect(() => decide(failed, c.exit(1, 1, 0), NOW)).toThrow(
      expect.objectContaining({
        code: ErrorCodes.LEASE_STALE_EPOCH,
        details: expect.objectContaining({ current: null }),
      }),
    );
  });

  it.each([
    { name: 'the same epoch again', epoch: 1 },
    { name: 'an older epoch', epoch: 0 },
  ])('refuses a lease under $name', ({ epoch }) => {
    const requeued = running().retried();

    expect(outcomeOf(requeued, c.lease(epoch, nodesOf(1), iso(2_030)), at(2_000))).toBe(
      ErrorCodes.LEASE_STALE_EPOCH,
    );
    expect(outcomeOf(requeued, c.lease(2, nodesOf(1), iso(2_030)), at(2_000))).toBe('accepted');
  });
});

describe('gang semantics (E3)', () => {
  it('succeeds only when every rank exited 0', () => {
    const history = running(2);
    const afterRank1 = decideAfter(history, c.exit(1, 1, 0));
    const state = apply(history.state(), afterRank1);
    const afterRank0 = decide(state, c.exit(1, 0, 0), NOW);

    expect(afterRank1.map((e) => e.type)).toEqual(['RankExited']);
    expect(state).toMatchObject({ state: 'RUNNING', exitCodes: [null, 0] });
    expect(afterRank0).toEqual([
      expect.objectContaining({ type: 'RankExited' }),
      {
        type: 'JobSucceeded',
        data: {
          jobId: 'j-1',
          attempt: 1,
          leaseEpoch: 1,
          exitCodes: [0, 0],
          succeededAt: NOW.toISOString(),
        },
      },
    ]);
  });

  it('fails the attempt as soon as one rank fails, without waiting for the others', () => {
    const events = decideAfter(running(2), c.exit(1, 1, 3));

    expect(events.map((e) => e.type)).toEqual(['RankExited', 'AttemptFailed', 'JobRetryScheduled']);
    expect(events[1]).toEqual({
      type: 'AttemptFailed',
      data: {
        jobId: 'j-1',
        attempt: 1,
        leaseEpoch: 1,
        reason: 'attempt 1: rank 1 on node node-1 exited with code 3',
        exitCodes: [null, 3],
        cause: 'exited',
        failedAt: NOW.toISOString(),
      },
    });
  });

  it('fails the attempt when a rank fails after another one exited 0', () => {
    const events = decideAfter(running(2).rankExited(1, 0), c.exit(1, 0, 1));

    expect(events[1]).toMatchObject({ type: 'AttemptFailed', data: { exitCodes: [1, 0] } });
  });

  it('answers a repeated exit report of one rank with no events', () => {
    expect(decideAfter(running(2).rankExited(1, 0), c.exit(1, 1, 0))).toEqual([]);
  });

  it('moves to STAGING and RUNNING once, however many agents of the gang report it', () => {
    expect(decideAfter(running(2), c.start(1))).toEqual([]);
    expect(decideAfter(running(2), c.stage(1))).toEqual([]);
    expect(decideAfter(leased().staging(), c.stage(1))).toEqual([]);
  });
});

describe('node loss (D2, E3)', () => {
  it('fails the running attempt, retries it, and frees the gang', () => {
    const history = running(2);
    const events = decideAfter(history, c.nodeLost(1, 'node-1', 0));
    const state = apply(history.state(), events);

    expect(events).toEqual([
      {
        type: 'AttemptFailed',
        data: {
          jobId: 'j-1',
          attempt: 1,
          leaseEpoch: 1,
          reason: 'attempt 1: node node-1 (rank 1) was lost',
          exitCodes: [null, null],
          nodeLost: 'node-1',
          failedAt: NOW.toISOString(),
        },
      },
      {
        type: 'JobRetryScheduled',
        data: {
          jobId: 'j-1',
          nextAttempt: 2,
          backoffSeconds: 0,
          notBefore: NOW.toISOString(),
          scheduledAt: NOW.toISOString(),
        },
      },
    ]);
    expect(state).toMatchObject({ state: 'QUEUED', leaseActive: false, nodes: [], attempt: 1 });
  });

  it('lets the retry run on other nodes as attempt 2 under a newer epoch', () => {
    const history = running(2);
    const requeued = apply(history.state(), decideAfter(history, c.nodeLost(1, 'node-1', 0)));
    const [leasedAgain] = decide(requeued, c.lease(2, nodesOf(2, 'spare')), NOW);

    expect(leasedAgain).toMatchObject({ type: 'JobLeased', data: { attempt: 2, leaseEpoch: 2 } });
  });
});

describe('cancel', () => {
  it('of a running gang records the intent, and the fact once every rank has reported', () => {
    const history = running(2);
    const requested = decideAfter(history, c.cancel('wrong input'));
    const s1 = apply(history.state(), requested);
    const rank0 = decide(s1, c.exit(1, 0, 137), NOW);
    const s2 = apply(s1, rank0);
    const rank1 = decide(s2, c.exit(1, 1, 143), NOW);

    expect(requested).toEqual([
      {
        type: 'JobCancelRequested',
        data: {
          jobId: 'j-1',
          reason: 'wrong input',
          requestedBy: 'key:acme-1',
          requestedAt: NOW.toISOString(),
        },
      },
    ]);
    expect(s1.state).toBe('RUNNING');
    // The kill's non-zero exit is the cancel taking effect, not a failure to retry.
    expect(rank0.map((e) => e.type)).toEqual(['RankExited']);
    expect(s2.state).toBe('RUNNING');
    expect(rank1).toEqual([
      expect.objectContaining({ type: 'RankExited' }),
      {
        type: 'JobCancelled',
        data: {
          jobId: 'j-1',
          reason: 'wrong input',
          cancelledBy: 'key:acme-1',
          cancelledAt: NOW.toISOString(),
        },
      },
    ]);
    expect(apply(s2, rank1)).toMatchObject({
      state: 'CANCELLED',
      leaseActive: false,
      finishedAt: NOW.toISOString(),
    });
  });

  it('asked twice while the gang is stopping records the intent once', () => {
    expect(decideAfter(running().cancelRequested(), c.cancel())).toEqual([]);
  });

  it('of a job that holds no nodes is the fact at once', () => {
    expect(decideAfter(aJob().submitted().admitted().queued(), c.cancel('gone'))).toEqual([
      {
        type: 'JobCancelled',
        data: {
          jobId: 'j-1',
          reason: 'gone',
          cancelledBy: 'key:acme-1',
          cancelledAt: NOW.toISOString(),
        },
      },
    ]);
  });

  it('of a finished job is refused', () => {
    expect(refusalOf(running().rankExited(0, 0).succeeded(), c.cancel())).toMatchObject({
      code: ErrorCodes.ILLEGAL_TRANSITION,
      details: { state: 'SUCCEEDED', command: 'CancelJob' },
    });
  });
});

describe('evolve', () => {
  it('ignores a fact about a job that was never submitted', () => {
    const none = aJob().state();

    expect(evolve(none, { type: 'JobAdmitted', data: { jobId: 'j-1', admittedAt: iso(1) } })).toBe(
      none,
    );
  });

  it('clears a retry backoff and resets exit codes when the next lease begins', () => {
    const state = running(2).retried().leased(nodesOf(2, 'spare')).state();

    expect(state).toMatchObject({
      state: 'LEASED',
      attempt: 2,
      notBefore: null,
      exitCodes: [null, null],
    });
  });
});

describe('stateAfterEvent', () => {
  it('agrees with evolve on every event of a history that visits most states', () => {
    const history = aJob()
      .withRetry({ maxAttempts: 3 })
      .submitted()
      .admitted()
      .queued()
      .leased()
      .started()
      .events();
    let state = initialJobState({ tenant: 'acme', jobId: 'j-1' });
    for (const event of history) {
      const next = evolve(state, event);
      const named = stateAfterEvent(event);
      expect({ event: event.type, state: named ?? state.state }).toEqual({
        event: event.type,
        state: next.state,
      });
      state = next;
    }
  });

  it('sends a release where the hold found the job, and leaves rank facts alone', () => {
    expect(stateAfterEvent({ type: 'JobReleased', data: { releasedTo: 'BLOCKED' } })).toBe(
      'BLOCKED',
    );
    expect(stateAfterEvent({ type: 'RankExited', data: {} })).toBeUndefined();
  });
});
