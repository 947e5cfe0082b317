import { randomUUID } from 'node:crypto';
import { ErrorCodes, commandRegistry, eventRegistry } from '@gantry/contracts';
import { decodeCommand, decodeEvent } from './decode';

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

const jobCancelled = (overrides: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  type: 'JobCancelled',
  schemaVersion: 1,
  data: { jobId: 'j1', reason: 'r', cancelledBy: 'me' },
  metadata: {
    tenant: 'acme',
    occurredAt: '2025-01-01T00:00:00.000Z',
    causationId: null,
    correlationId: 'c1',
    streamId: 'job-j1',
    streamVersion: 3,
  },
  ...overrides,
});

describe('decodeEvent', () => {
  it('reads a valid event', () => {
    const event = jobCancelled();
    expect(decodeEvent(encode(event), eventRegistry)).toEqual({ ok: true, envelope: event });
  });

  it('upcasts old versions before anyone sees them', () => {
    const v1 = jobCancelled({
      type: 'JobSubmitted',
      schemaVersion: 1,
      data: {
        jobId: 'j1',
        idempotencyKey: null,
        spec: { command: ['true'], nodeCount: 2, resources: { cpu: 1, memoryMb: 2_048 } },
      },
    });
    const decoded = decodeEvent(encode(v1), eventRegistry);
    expect(decoded.ok && decoded.envelope).toMatchObject({
      schemaVersion: 2,
      data: { spec: { nodes: 2, resources: { memoryMiB: 1_954 } } },
    });
  });

  it.each([
    {
      name: 'bytes that are not UTF-8',
      bytes: Uint8Array.of(0xff, 0xfe, 0x7b),
      reason: 'unparseable',
      code: ErrorCodes.VALIDATION_FAILED,
    },
    {
      name: 'text that is not JSON',
      bytes: new TextEncoder().encode('{"id":'),
      reason: 'unparseable',
      code: ErrorCodes.VALIDATION_FAILED,
    },
    {
      name: 'a JSON value that is no envelope',
      bytes: encode([1, 2]),
      reason: 'invalid-envelope',
      code: ErrorCodes.VALIDATION_FAILED,
    },
    {
      name: 'an envelope with an unknown field',
      bytes: encode(jobCancelled({ extra: 1 })),
      reason: 'invalid-envelope',
      code: ErrorCodes.VALIDATION_FAILED,
    },
    {
      name: 'data the schema refuses',
      bytes: encode(jobCancelled({ data: { jobId: 'j1' } })),
      reason: 'invalid-envelope',
      code: ErrorCodes.VALIDATION_FAILED,
    },
    {
      name: 'a future schema version',
      bytes: encode(jobCancelled({ schemaVersion: 9 })),
      reason: 'invalid-envelope',
      code: ErrorCodes.UNSUPPORTED_SCHEMA_VERSION,
    },
    {
      name: 'a type nobody knows',
      bytes: encode(jobCancelled({ type: 'JobTeleported' })),
      reason: 'unknown-type',
      code: ErrorCodes.UNKNOWN_EVENT_TYPE,
    },
  ])('refuses $name as $reason', ({ bytes, reason, code }) => {
    const decoded = decodeEvent(bytes, eventRegistry);
    expect(decoded).toMatchObject({ ok: false, reason, error: { code, retryable: false } });
  });

  it('says what is wrong with an invalid envelope', () => {
    const decoded = decodeEvent(encode(jobCancelled({ id: 'not-a-uuid' })), eventRegistry);
    expect(!decoded.ok && decoded.error.message).toEqual(expect.stringContaining('id'));
    expect(!decoded.ok && decoded.error.details['issues']).toEqual([
      expect.objectContaining({ path: 'id' }),
    ]);
  });
});

describe('decodeCommand', () => {
  const cancelJob = (overrides: Record<string, unknown> = {}) => ({
    id: randomUUID(),
    type: 'CancelJob',
    schemaVersion: 1,
    data: { jobId: 'j1' },
    metadata: {
      tenant: 'acme',
      occurredAt: '2025-01-01T00:00:00Z',
      causationId: null,
      correlationId: 'c1',
    },
    ...overrides,
  });

  it('reads a valid command and applies its defaults', () => {
    const decoded = decodeCommand(encode(cancelJob()), commandRegistry);
    expect(decoded.ok && decoded.envelope.data).toEqual({ jobId: 'j1', reason: '' });
  });

  it('refuses an event envelope (stream fields) sent as a command', () => {
    const decoded = decodeCommand(
      encode(cancelJob({ metadata: { ...cancelJob().metadata, streamId: 'job-j1' } })),
      commandRegistry,
    );
    expect(decoded).toMatchObject({ ok: false, reason: 'invalid-envelope' });
  });

  it('refuses a command type nobody knows', () => {
    expect(
      decodeCommand(encode(cancelJob({ type: 'LaunchRocket' })), commandRegistry),
    ).toMatchObject({
      ok: false,
      reason: 'unknown-type',
    });
  });
});
