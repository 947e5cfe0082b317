import { ErrorCodes, GantryError } from '@gantry/contracts';
import { decideOutcome, toGantryError, type HandlingResult, type MessageOutcome } from './outcome';
import { type RetryPolicy } from './retry-policy';

const policy: RetryPolicy = { initialDelayMs: 100, multiplier: 2, maxDelayMs: 1_000 };
const firstOfThree = { deliveryCount: 1, maxDeliver: 3 };
const retryable = new GantryError(ErrorCodes.UNAVAILABLE, 'database restarting', {
  retryable: true,
});
const permanent = new GantryError(ErrorCodes.ILLEGAL_TRANSITION, 'job already finished');

describe('decideOutcome', () => {
  it.each<{
    name: string;
    result: HandlingResult;
    delivery?: { deliveryCount: number; maxDeliver: number };
    outcome: Partial<MessageOutcome>;
  }>([
    { name: 'a handled message is acked', result: { kind: 'handled' }, outcome: { kind: 'ack' } },
    {
      name: 'a type nobody here handles is acked',
      result: { kind: 'no-handler' },
      outcome: { kind: 'ack' },
    },
    {
      name: 'a retryable failure is naked with the backoff for its delivery',
      result: { kind: 'failed', error: retryable },
      delivery: { deliveryCount: 2, maxDeliver: 5 },
      outcome: { kind: 'nak', delayMs: 200 },
    },
    {
      name: 'an unknown error is assumed transient',
      result: { kind: 'failed', error: new Error('ECONNRESET') },
      outcome: { kind: 'nak', delayMs: 100 },
    },
    {
      name: 'a non-retryable failure is dead-lettered',
      result: { kind: 'failed', error: permanent },
      outcome: { kind: 'dead-letter', reason: 'non-retryable' },
    },
    {
      name: 'a retryable failure on the last allowed delivery is dead-lettered',
      result: { kind: 'failed', error: retryable },
      delivery: { deliveryCount: 3, maxDeliver: 3 },
      outcome: { kind: 'dead-letter', reason: 'max-deliver-exceeded' },
    },
    {
      name: 'a message that could not be read is dead-lettered with why',
      result: {
        kind: 'rejected',
        reason: 'unparseable',
        error: new GantryError(ErrorCodes.VALIDATION_FAILED, 'not JSON'),
      },
      outcome: { kind: 'dead-letter', reason: 'unparseable' },
    },
    {
      name: 'a message that could not be read is dead-lettered even with deliveries left',
      result: {
        kind: 'rejected',
        reason: 'unknown-type',
        error: new GantryError(ErrorCodes.UNKNOWN_EVENT_TYPE, 'JobTeleported'),
      },
      delivery: { deliveryCount: 1, maxDeliver: 100 },
      outcome: { kind: 'dead-letter', reason: 'unknown-type' },
    },
  ])('$name', ({ result, delivery, outcome }) => {
    expect(decideOutcome(result, delivery ?? firstOfThree, policy)).toMatchObject(outcome);
  });

  it('succeeds on the last delivery like on any other', () => {
    expect(decideOutcome({ kind: 'handled' }, { deliveryCount: 3, maxDeliver: 3 }, policy)).toEqual(
      { kind: 'ack' },
    );
  });

  it('keeps the error that decided the outcome', () => {
    const outcome = decideOutcome({ kind: 'failed', error: permanent }, firstOfThree, policy);
    expect(outcome.kind === 'dead-letter' && outcome.error).toBe(permanent);
  });

  it('never gives up on a consumer without a delivery limit', () => {
    const outcome = decideOutcome(
      { kind: 'failed', error: retryable },
      { deliveryCount: 1_000, maxDeliver: Number.POSITIVE_INFINITY },
      policy,
    );
    expect(outcome).toMatchObject({ kind: 'nak', delayMs: policy.maxDelayMs });
  });
});

describe('toGantryError', () => {
  it('keeps a GantryError as it is', () => {
    expect(toGantryError(permanent)).toBe(permanent);
  });

  it('makes any other error an INTERNAL, retryable one that remembers its cause', () => {
    const cause = new TypeError('x is undefined');
    expect(toGantryError(cause)).toMatchObject({
      code: ErrorCodes.INTERNAL,
      retryable: true,
      message: 'x is undefined',
      cause,
    });
  });

  it("recognises what Nest's default filter leaves of an error and says how to keep more", () => {
    const error = toGantryError({ status: 'error', message: 'Internal server error' });
    expect(error).toMatchObject({ code: ErrorCodes.INTERNAL, retryable: true });
    expect(error.details['hint']).toEqual(expect.stringContaining('GantryRpcExceptionFilter'));
  });

  it('describes a thrown non-error value', () => {
    expect(toGantryError('boom')).toMatchObject({
      code: ErrorCodes.INTERNAL,
      details: { thrown: '"boom"' },
    });
  });
});
