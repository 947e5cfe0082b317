import {
  type EventEnvelope,
  type JobSpec,
  type KillAttempt,
  type RankAssignment,
} from '@gantry/contracts';
import { type JobEventEnvelope } from '@gantry/projections';

/**
 * What the scheduler knows of one job, folded from its events: whether it waits in the queue,
 * the live lease (if any) and enough of the spec to place it and offer it. Pure, so the fold is
 * unit-tested apart from NATS; the engine acts on the effects it returns.
 */
export type JobPhase = 'waiting' | 'queued' | 'leased' | 'held' | 'done';

export interface LiveLease {
  readonly epoch: number;
  readonly attempt: number;
  readonly nodes: readonly RankAssignment[];
  /** Epoch ms. */
  readonly leasedAt: number;
}

export interface JobView {
  readonly tenant: string;
  readonly jobId: string;
  /** The last stream version folded in. */
  readonly version: number;
  readonly spec: JobSpec | null;
  readonly phase: JobPhase;
  /** The current or last attempt; the next lease is attempt + 1. */
  readonly attempt: number;
  /** The highest epoch the job has seen; the next lease uses epoch + 1. */
  readonly leaseEpoch: number;
  /** Epoch ms. */
  readonly queuedAt: number;
  readonly notBefore: number | null;
  readonly lease: LiveLease | null;
  readonly cancelRequested: boolean;
  /** The live attempt is being preempted (C6): its ranks are stopping, its nodes not free yet. */
  readonly preemptRequested: boolean;
}

export type JobEffect =
  /** The queue or the resources held changed: worth a placement pass. */
  | { readonly kind: 'changed' }
  /** A lease this scheduler did not record (a timed-out reply, a restart): offer it to its nodes. */
  | { readonly kind: 'adopt-lease' }
  | {
      readonly kind: 'kill';
      readonly nodeIds: readonly string[];
      readonly leaseEpoch: number;
      readonly reason: KillAttempt['reason'];
    };

export interface FoldResult {
  readonly view: JobView | undefined;
  readonly effects: readonly JobEffect[];
}

type JobEnvelope = JobEventEnvelope;

const ms = (iso: string): number => Date.parse(iso);

const kill = (lease: LiveLease | null, reason: KillAttempt['reason']): JobEffect[] =>
  lease
    ? [{ kind: 'kill', nodeIds: lease.nodes.map((n) => n.nodeId), leaseEpoch: lease.epoch, reason }]
    : [];

/**
 * Folds one event into the view. An event at or below the view's version is a redelivery (or
 * covered by the load) and changes nothing.
 */
export const foldJobEvent = (view: JobView | undefined, event: JobEnvelope): FoldResult => {
  const version = event.metadata.streamVersion ?? 0;
  if (view && version !== 0 && version <= view.version) return { view, effects: [] };
  if (event.type === 'JobSubmitted') {
    return {
      view: {
        tenant: event.metadata.tenant,
        jobId: event.data.jobId,
        version,
        spec: event.data.spec,
        phase: 'waiting',
        attempt: 0,
        leaseEpoch: 0,
        queuedAt: ms(event.data.submittedAt ?? event.metadata.occurredAt),
        notBefore: null,
        lease: null,
        cancelRequested: false,
        preemptRequested: false,
      },
      effects: [],
    };
  }
  // Every other event needs the submission first; the engine fills gaps from the store.
  if (!view) return { view, effects: [] };
  const next = { ...view, version };
  const changed: JobEffect = { kind: 'changed' };
  switch (event.type) {
    case 'JobAdmitted':
    case 'JobBlocked':
      return { view: { ...next, phase: 'waiting' }, effects: [] };
    case 'JobRejected':
      return { view: { ...next, phase: 'done' }, effects: [] };
    case 'JobQueued':
      return {
        view: { ...next, phase: 'queued', queuedAt: ms(event.data.queuedAt), notBefore: null },
        effects: [changed],
      };
    case 'JobHeld':
      return { view: { ...next, phase: 'held' }, effects: [changed] };
    case 'JobReleased':
      return {
        view: { ...next, phase: event.data.releasedTo === 'QUEUED' ? 'queued' : 'waiting' },
        effects: [changed],
      };
    case 'JobLeased': {
      const known = view.lease?.epoch === event.data.leaseEpoch;
      return {
        view: {
          ...next,
          phase: 'leased',
          attempt: event.data.attempt,
          leaseEpoch: Math.max(view.leaseEpoch, event.data.leaseEpoch),
          notBefore: null,
          preemptRequested: false,
          lease: known
            ? view.lease
            : {
                epoch: event.data.leaseEpoch,
                attempt: event.data.attempt,
                nodes: [...event.data.nodes].sort((a, b) => a.rank - b.rank),
                leasedAt: ms(event.data.leasedAt),
              },
        },
        effects: known ? [] : [{ kind: 'adopt-lease' }, changed],
      };
    }
    case 'JobStagingStarted':
    case 'JobStarted':
    case 'RankExited':
    // What an attempt reports while it runs or as it succeeds: nothing the placement depends on.
    case 'OutputsCommitted':
    case 'JobProgressed':
    case 'JobCheckpointed':
      return { view: next, effects: [] };
    case 'LeaseExpired':
      return {
        view: { ...next, lease: null },
        effects: [...kill(view.lease, 'lease-lost'), changed],
      };
    // The surviving ranks of a failed gang must die, or they would wait on a peer for ever.
    case 'AttemptFailed':
      return {
        view: { ...next, lease: null },
        effects: [...kill(view.lease, event.data.nodeLost ? 'node-lost' : 'gang-failed'), changed],
      };
    case 'JobRetryScheduled':
      return {
        view: {
          ...next,
          phase: 'queued',
          lease: null,
          attempt: event.data.nextAttempt - 1,
          queuedAt: ms(event.data.scheduledAt),
          notBefore: ms(event.data.notBefore),
        },
        effects: [changed],
      };
    case 'JobCancelRequested':
      return {
        view: { ...next, cancelRequested: true },
        effects: kill(view.lease, 'cancelled'),
      };
    case 'AttemptPreemptionRequested':
      return {
        view: { ...next, preemptRequested: true },
        effects: kill(view.lease, 'preempted'),
      };
    // Back in the queue at once (no backoff): the freed nodes are worth a pass.
    case 'AttemptPreempted':
      return {
        view: {
          ...next,
          phase: 'queued',
          lease: null,
          preemptRequested: false,
          attempt: event.data.attempt,
          queuedAt: ms(event.data.preemptedAt),
          notBefore: null,
        },
        effects: [...kill(view.lease, 'preempted'), changed],
      };
    case 'JobSucceeded':
    case 'JobFailed':
    case 'JobDeadLettered':
    case 'JobCancelled':
      return { view: { ...next, phase: 'done', lease: null }, effects: [changed] };
    // A job with steps (D5) is never placed: its steps are jobs of their own.
    case 'StepSubmitted':
    case 'StepSucceeded':
    case 'StepFailed':
    case 'StepSkipped':
      return { view: next, effects: [] };
    case 'StepsRetried':
      return { view: { ...next, phase: 'waiting' }, effects: [] };
    case 'StepsSucceeded':
    case 'StepsFailed':
      return { view: { ...next, phase: 'done', lease: null }, effects: [] };
    // The attempt ended cleanly and the job now waits for its children (D5): its nodes are free.
    case 'JobFannedOut':
      return { view: { ...next, phase: 'waiting', lease: null }, effects: [changed] };
    default: {
      const unhandled: never = event;
      throw new Error(`no case for ${(unhandled as EventEnvelope).type}`);
    }
  }
};
