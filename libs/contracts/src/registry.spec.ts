import { randomUUID } from 'node:crypto';
import { eventRegistry, ErrorCodes } from './index';

const envelope = (overrides: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  type: 'JobAdmitted',
  schemaVersion: 1,
  data: { jobId: 'j1', admittedAt: '2026-11-23T10:00:00.000Z' },
  metadata: {
    tenant: 'acme',
    streamId: 'job-j1',
    streamVersion: 2,
    occurredAt: '2026-11-23T10:00:00.000Z',
    causationId: null,
    correlationId: 'c1',
  },
  ...overrides,
});

describe('event registry', () => {
  it('parses a current event unchanged', () => {
    const raw = envelope();
    expect(eventRegistry.parseEvent(raw)).toEqual(raw);
  });

  it('upcasts JobSubmitted v1 (MB, nodeCount) to v2 (MiB, nodes) on read', () => {
    const parsed = eventRegistry.parseEvent(
      envelope({
        type: 'JobSubmitted',
        schemaVersion: 1,
        data: {
          jobId: 'j1',
          idempotencyKey: null,
          spec: { command: ['true'], nodeCount: 2, resources: { cpu: 1, memoryMb: 1049 } },
        },
      }),
    );
    expect(parsed.schemaVersion).toBe(2);
    expect(parsed.data).toMatchObject({
      spec: { nodes: 2, resources: { cpu: 1, memoryMiB: 1001, gpu: 0 } },
    });
    expect((parsed.data as { spec: Record<string, unknown> }).spec).not.toHaveProperty('nodeCount');
  });

  it.each([
    ['an unknown type', envelope({ type: 'JobTeleported' }), ErrorCodes.UNKNOWN_EVENT_TYPE],
    [
      'a version from the future',
      envelope({ schemaVersion: 9 }),
      ErrorCodes.UNSUPPORTED_SCHEMA_VERSION,
    ],
    ['data of the wrong shape', envelope({ data: { jobId: 'j1' } }), ErrorCodes.VALIDATION_FAILED],
    [
      'a missing correlation id',
      { ...envelope(), metadata: { ...envelope().metadata, correlationId: undefined } },
      ErrorCodes.VALIDATION_FAILED,
    ],
    [
      'a bad tenant',
      { ...envelope(), metadata: { ...envelope().metadata, tenant: 'Acme Corp' } },
      ErrorCodes.VALIDATION_FAILED,
    ],
    [
      'version zero',
      { ...envelope(), metadata: { ...envelope().metadata, streamVersion: 0 } },
      ErrorCodes.VALIDATION_FAILED,
    ],
    ['a non-uuid id', envelope({ id: 'x' }), ErrorCodes.VALIDATION_FAILED],
    ['an extra envelope field', envelope({ extra: true }), ErrorCodes.VALIDATION_FAILED],
    [
      'a bad traceparent',
      { ...envelope(), metadata: { ...envelope().metadata, traceparent: 'nope' } },
      ErrorCodes.VALIDATION_FAILED,
    ],
    ['not an object', 'JobAdmitted', ErrorCodes.VALIDATION_FAILED],
  ])('refuses %s with a clear error', (_name, raw, code) => {
    expect(() => eventRegistry.parseEvent(raw)).toThrow(expect.objectContaining({ code }));
  });
});
