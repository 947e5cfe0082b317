import { randomUUID } from 'node:crypto';
import { type CommandEnvelope, type EventEnvelope } from '@gantry/contracts';

/** Fluent fixtures for envelopes (CONVENTIONS.md, "Tests"): valid by default, one change per call. */
export const aJobCancelledEvent = (jobId = `job${randomUUID().slice(0, 8)}`) => {
  let envelope: EventEnvelope = {
    id: randomUUID(),
    type: 'JobCancelled',
    schemaVersion: 1,
    data: { jobId, reason: 'no longer needed', cancelledBy: 'tester' },
    metadata: {
      tenant: 'acme',
      occurredAt: '2025-01-01T00:00:00.000Z',
      causationId: null,
      correlationId: 'corr-1',
      streamId: `job-${jobId}`,
      streamVersion: 2,
    },
  };
  const builder = {
    ofType(type: string) {
      envelope = { ...envelope, type };
      return builder;
    },
    build: (): EventEnvelope => envelope,
  };
  return builder;
};

export const aCancelJobCommand = (jobId = 'job-1'): CommandEnvelope => ({
  id: randomUUID(),
  type: 'CancelJob',
  schemaVersion: 1,
  data: { jobId, reason: 'changed my mind' },
  metadata: {
    tenant: 'acme',
    occurredAt: '2025-01-01T00:00:00.000Z',
    causationId: null,
    correlationId: 'corr-1',
  },
});
