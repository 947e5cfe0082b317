import { type JobEventEnvelope } from '@gantry/projections';
import { foldJobEvent, type JobView } from './job-view';

let version = 0;
const at = '2026-11-23T12:00:00.000Z';
const event = (type: string, data: Record<string, unknown>): JobEventEnvelope =>
  ({
    id: '00000000-0000-4000-8000-000000000000',
    type,
    schemaVersion: 1,
    data: { jobId: 'j1', ...data },
    metadata: {
      tenant: 'acme',
      occurredAt: at,
      causationId: null,
      correlationId: 'c',
      streamId: 'job-j1',
      streamVersion: (version += 1),
    },
  }) as unknown as JobEventEnvelope;

const fold = (events: JobEventEnvelope[]) => {
  let view: JobView | undefined;
  const effects = [];
  for (const e of events) {
    const result = foldJobEvent(view, e);
    view = result.view;
    effects.push(...result.effects);
  }
  return { view, effects };
};

const spec = { command: ['true'], resources: { cpu: 1, memoryMiB: 64, gpu: 0 }, nodes: 2 };
const leased = (epoch: number) =>
  event('JobLeased', {
    attempt: epoch,
    leaseEpoch: epoch,
    nodes: [
      { nodeId: 'n2', rank: 1 },
      { nodeId: 'n1', rank: 0 },
    ],
    leaseExpiresAt: at,
    leasedAt: at,
  });

beforeEach(() => {
  version = 0;
});

describe('foldJobEvent', () => {
  it('queues a job, then holds its lease with ranks in order', () => {
    const { view, effects } = fold([
      event('JobSubmitted', { spec, idempotencyKey: null }),
      event('JobQueued', { queuedAt: at }),
      leased(1),
    ]);
    expect(view).toMatchObject({ phase: 'leased', leaseEpoch: 1, attempt: 1 });
    expect(view!.lease!.nodes.map((n) => n.nodeId)).toEqual(['n1', 'n2']);
    // A lease the scheduler did not record itself is offered from the event.
    expect(effects.map((e) => e.kind)).toContain('adopt-lease');
  });

  it('kills the surviving ranks when the attempt fails, and queues the retry after its backoff', () => {
    const { view, effects } = fold([
      event('JobSubmitted', { spec, idempotencyKey: null }),
      event('JobQueued', { queuedAt: at }),
      leased(1),
      event('AttemptFailed', {
        attempt: 1,
        leaseEpoch: 1,
        reason: 'x',
        exitCodes: [1, null],
        failedAt: at,
      }),
      event('JobRetryScheduled', {
        nextAttempt: 2,
        backoffSeconds: 5,
        notBefore: '2026-11-23T12:00:05.000Z',
        scheduledAt: at,
      }),
    ]);
    expect(effects).toContainEqual({
      kind: 'kill',
      nodeIds: ['n1', 'n2'],
      leaseEpoch: 1,
      reason: 'gang-failed',
    });
    expect(view).toMatchObject({ phase: 'queued', lease: null, attempt: 1, leaseEpoch: 1 });
    expect(view!.notBefore).toBe(Date.parse('2026-11-23T12:00:05.000Z'));
  });

  it('ignores a redelivered event', () => {
    const submitted = event('JobSubmitted', { spec, idempotencyKey: null });
    const queued = event('JobQueued', { queuedAt: at });
    const { view } = fold([submitted, queued]);
    expect(foldJobEvent(view, queued)).toEqual({ view, effects: [] });
  });

  it('kills every rank on a cancel request while leased', () => {
    const { effects } = fold([
      event('JobSubmitted', { spec, idempotencyKey: null }),
      event('JobQueued', { queuedAt: at }),
      leased(1),
      event('JobCancelRequested', { reason: '', requestedBy: 'k', requestedAt: at }),
    ]);
    expect(effects).toContainEqual({
      kind: 'kill',
      nodeIds: ['n1', 'n2'],
      leaseEpoch: 1,
      reason: 'cancelled',
    });
  });

  it('kills a preempted attempt with the preemption grace, stops offering it, then requeues it at once', () => {
    const requested = fold([
      event('JobSubmitted', { spec, idempotencyKey: null }),
      event('JobQueued', { queuedAt: at }),
      leased(1),
      event('AttemptPreemptionRequested', {
        attempt: 1,
        leaseEpoch: 1,
        preemptedBy: 'j9',
        reason: 'preempted by job j9',
        requestedAt: at,
      }),
    ]);
    expect(requested.effects).toContainEqual({
      kind: 'kill',
      nodeIds: ['n1', 'n2'],
      leaseEpoch: 1,
      reason: 'preempted',
    });
    // Its nodes are still held while the ranks stop.
    expect(requested.view).toMatchObject({ phase: 'leased', preemptRequested: true });
    expect(requested.view!.lease).not.toBeNull();

    const { view, effects } = foldJobEvent(
      requested.view,
      event('AttemptPreempted', {
        attempt: 1,
        leaseEpoch: 1,
        preemptedBy: 'j9',
        reason: 'preempted by job j9',
        exitCodes: [143, 143],
        preemptedAt: '2026-11-23T12:00:09.000Z',
      }),
    );
    expect(view).toMatchObject({
      phase: 'queued',
      lease: null,
      notBefore: null,
      preemptRequested: false,
      attempt: 1,
      leaseEpoch: 1,
      queuedAt: Date.parse('2026-11-23T12:00:09.000Z'),
    });
    expect(effects).toContainEqual({ kind: 'changed' });
  });
});
