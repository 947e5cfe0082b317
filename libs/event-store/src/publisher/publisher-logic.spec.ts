import { type EventEnvelope } from '@gantry/contracts';
import { compareCheckpoints } from '../checkpoint';
import { appendErrorFrom, StreamVersionConflictError } from '../errors';
import { backoffDelay } from './backoff';
import { laneByStream } from './publish-plan';
import { Wakeup } from './wakeup';

const event = (streamId: string, streamVersion: number) =>
  ({
    id: `${streamId}@${streamVersion}`,
    metadata: { streamId, streamVersion },
  }) as unknown as EventEnvelope;

describe('laneByStream', () => {
  it('keeps each stream in store order and separates streams', () => {
    const batch = [
      event('job-a', 1),
      event('job-b', 1),
      event('job-a', 2),
      event('job-c', 1),
      event('job-b', 2),
    ];
    expect(laneByStream(batch).map((lane) => lane.map((e) => e.id))).toEqual([
      ['job-a@1', 'job-a@2'],
      ['job-b@1', 'job-b@2'],
      ['job-c@1'],
    ]);
  });
});

describe('backoffDelay', () => {
  const policy = { initialMs: 100, maxMs: 1_000, factor: 2 };
  it.each([
    [0, 0, 0],
    [1, 0, 50],
    [1, 0.999, 100],
    [3, 0, 200],
    [4, 0.5, 600],
    [20, 0, 500],
    [20, 0.999, 1_000],
  ])('after %i failures with jitter %d waits %i ms', (failures, jitter, expected) => {
    expect(backoffDelay(failures, jitter, policy)).toBe(expected);
  });
});

describe('compareCheckpoints', () => {
  it('orders by transaction first, then position, numerically', () => {
    const cp = (transactionId: string, position: string) => ({ transactionId, position });
    expect(compareCheckpoints(cp('9', '100'), cp('10', '1'))).toBe(-1);
    expect(compareCheckpoints(cp('10', '9'), cp('10', '10'))).toBe(-1);
    expect(compareCheckpoints(cp('10', '10'), cp('10', '10'))).toBe(0);
    expect(
      compareCheckpoints(cp('18446744073709551615', '1'), cp('18446744073709551614', '2')),
    ).toBe(1);
  });
});

describe('appendErrorFrom', () => {
  it('maps a duplicate event id to a non-retryable validation error naming the id', () => {
    const mapped = appendErrorFrom(
      {
        code: '23505',
        constraint: 'events_event_id_key',
        detail: 'Key (event_id)=(0b8f6b0e-4a57-4a55-9d57-3c3f0e3e8a11) already exists.',
      },
      'job-a',
      3,
    );
    expect(mapped).not.toBeInstanceOf(StreamVersionConflictError);
    expect(mapped).toMatchObject({
      code: 'VALIDATION_FAILED',
      retryable: false,
      details: { streamId: 'job-a', eventId: '0b8f6b0e-4a57-4a55-9d57-3c3f0e3e8a11' },
    });
  });

  it('maps a unique violation on (stream_id, stream_version) to a retryable version conflict', () => {
    const mapped = appendErrorFrom(
      { code: '23505', constraint: 'events_stream_id_stream_version_key' },
      'job-a',
      3,
    );
    expect(mapped).toBeInstanceOf(StreamVersionConflictError);
    expect(mapped).toMatchObject({ reason: 'version', expectedVersion: 3, retryable: true });
  });

  it('passes unknown errors through untouched', () => {
    const err = new Error('connection reset');
    expect(appendErrorFrom(err, 'job-a', 'any')).toBe(err);
  });
});

describe('Wakeup', () => {
  it('remembers a wake that came while nobody waited', async () => {
    const wakeup = new Wakeup();
    wakeup.wake();
    await expect(wakeup.wait(60_000)).resolves.toBeUndefined();
  });

  it('ends a wait early on wake', async () => {
    const wakeup = new Wakeup();
    const waiting = wakeup.wait(60_000);
    wakeup.wake();
    await expect(waiting).resolves.toBeUndefined();
  });
});
