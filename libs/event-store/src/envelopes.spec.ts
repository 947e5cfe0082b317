import { ErrorCodes, eventRegistry } from '@gantry/contracts';
import { envelopeFromRow, prepareAppend, storedEnvelope, type NewEvent } from './envelopes';

const fixed = {
  now: () => new Date('2025-03-01T10:00:00.123Z'),
  newId: () => '00000000-0000-4000-8000-000000000001',
};
const admitted = (overrides: Partial<NewEvent['metadata']> = {}): NewEvent => ({
  type: 'JobAdmitted',
  data: { jobId: 'j1', admittedAt: '2025-03-01T10:00:00Z' },
  metadata: { tenant: 'acme', causationId: 'cmd-1', correlationId: 'corr-1', ...overrides },
});

describe('prepareAppend', () => {
  it('fills id, schema version and occurredAt, and keeps only envelope metadata for the metadata column', () => {
    const prepared = prepareAppend(eventRegistry, 'job-j1', [admitted({ actor: 'key-1' })], fixed);
    expect(prepared).toEqual({
      streamId: 'job-j1',
      tenant: 'acme',
      events: [
        {
          id: '00000000-0000-4000-8000-000000000001',
          type: 'JobAdmitted',
          schemaVersion: 1,
          data: { jobId: 'j1', admittedAt: '2025-03-01T10:00:00Z' },
          storedMetadata: { causationId: 'cmd-1', correlationId: 'corr-1', actor: 'key-1' },
          occurredAt: '2025-03-01T10:00:00.123Z',
        },
      ],
    });
  });

  it('normalises occurredAt to UTC milliseconds, as it reads back', () => {
    const [event] = prepareAppend(
      eventRegistry,
      'job-j1',
      [admitted({ occurredAt: '2025-03-01T12:00:00.123456+02:00' })],
      fixed,
    ).events;
    expect(event!.occurredAt).toBe('2025-03-01T10:00:00.123Z');
  });

  it('applies schema defaults to the data it will store', () => {
    const [event] = prepareAppend(
      eventRegistry,
      'job-j1',
      [
        {
          ...admitted(),
          type: 'JobRejected',
          data: { jobId: 'j1', code: 'QUOTA_EXCEEDED', reason: 'over' },
        },
      ],
      fixed,
    ).events;
    expect(event!.data).toEqual({
      jobId: 'j1',
      code: 'QUOTA_EXCEEDED',
      reason: 'over',
      details: {},
    });
  });

  it.each([
    ['an unknown type', [{ ...admitted(), type: 'JobVanished' }], ErrorCodes.UNKNOWN_EVENT_TYPE],
    ['bad data', [{ ...admitted(), data: { jobId: 'j1' } }], ErrorCodes.VALIDATION_FAILED],
    ['a bad tenant', [admitted({ tenant: 'ACME!' })], ErrorCodes.VALIDATION_FAILED],
    ['no correlation id', [admitted({ correlationId: '' })], ErrorCodes.VALIDATION_FAILED],
    ['two tenants', [admitted(), admitted({ tenant: 'globex' })], ErrorCodes.VALIDATION_FAILED],
    ['no events', [], ErrorCodes.VALIDATION_FAILED],
    [
      'no metadata',
      [{ type: 'JobAdmitted', data: {} } as unknown as NewEvent],
      ErrorCodes.VALIDATION_FAILED,
    ],
  ])('refuses %s', (_case, batch, code) => {
    expect(() => prepareAppend(eventRegistry, 'job-j1', batch as NewEvent[], fixed)).toThrow(
      expect.objectContaining({ code }),
    );
  });

  it('refuses a stream id that is not <aggregate>-<id>', () => {
    expect(() => prepareAppend(eventRegistry, 'jobs/1', [admitted()], fixed)).toThrow(
      expect.objectContaining({ code: ErrorCodes.VALIDATION_FAILED }),
    );
  });
});

describe('envelopes', () => {
  it('reads back the envelope that append returned', () => {
    const prepared = prepareAppend(
      eventRegistry,
      'job-j1',
      [admitted({ traceparent: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01' })],
      fixed,
    );
    const event = prepared.events[0]!;
    const written = storedEnvelope(prepared, event, 7, '42');
    const read = envelopeFromRow(eventRegistry, {
      global_position: '42',
      transaction_id: '900',
      event_id: event.id,
      stream_id: 'job-j1',
      stream_version: 7,
      tenant: 'acme',
      type: event.type,
      schema_version: event.schemaVersion,
      data: event.data,
      metadata: { ...event.storedMetadata },
      occurred_at: new Date(event.occurredAt),
    });
    expect(read).toEqual(written);
  });
});
