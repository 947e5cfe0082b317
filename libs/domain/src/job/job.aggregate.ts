import {
  type ChildJobRequest,
  type JobEvent,
  type JobSpec,
  type OutputFile,
  type RankAssignment,
  type StepOf,
} from '@gantry/contracts';
import { evolveSteps, fannedOutSteps, initialSteps, type StepStatus } from './steps';

/**
 * The job aggregate: its state machine, its state, and `evolve`, the fold of its events.
 * `decide` (job.decide.ts) is the only producer of these events; the controller is its only
 * caller (FEATURES.md D1: the controller is the only writer of job state).
 *
 * The state machine, once (FEATURES.md D1; REJECTED is admission's refusal):
 *
 *   (none)   --JobSubmitted------> PENDING
 *   PENDING  --JobAdmitted-------> ADMITTED
 *   PENDING  --JobRejected-------> REJECTED
 *   ADMITTED --JobQueued---------> QUEUED
 *   ADMITTED --JobBlocked--------> BLOCKED   (waiting on dependencies)
 *   BLOCKED  --JobQueued---------> QUEUED
 *   ADMITTED | BLOCKED | QUEUED --JobHeld--> HELD --JobReleased--> the state it was held from
 *   QUEUED   --JobLeased---------> LEASED    (the whole gang, each node with its rank: C3, E3)
 *   LEASED   --JobStagingStarted-> STAGING
 *   LEASED | STAGING --JobStarted--> RUNNING
 *   RUNNING  --JobSucceeded------> SUCCEEDED (every rank exited 0)
 *   LEASED | STAGING | RUNNING --JobRetryScheduled--> QUEUED       (attempt failed, budget left)
 *   LEASED | STAGING | RUNNING --JobFailed----------> FAILED       (a non-retryable exit code)
 *   LEASED | STAGING | RUNNING --JobDeadLettered----> DEAD_LETTER  (the retry budget is spent)
 *   LEASED | STAGING | RUNNING --AttemptPreempted---> QUEUED       (C6: evicted, budget untouched)
 *   every state that is not terminal --JobCancelled--> CANCELLED
 *
 * SUCCEEDED, FAILED, CANCELLED, DEAD_LETTER and REJECTED are terminal: nothing leaves them, save
 * a retry of a job's steps (D5, below).
 *
 * Some facts leave the state where it is, because they concern one attempt or one rank rather
 * than the job: RankExited, AttemptFailed and LeaseExpired (each followed, in the same decision,
 * by the job-level fact that moves the state), and JobCancelRequested, the intent that waits for
 * every rank of a live lease to report before JobCancelled, the fact, can be recorded.
 * AttemptPreemptionRequested is the same kind of intent for preemption (C6): the lease stays live
 * through the ranks' grace period, and AttemptPreempted, the fact, requeues the job once they have
 * all stopped. A preempted attempt is not a failure: `attempt` grows with every lease, and the
 * retry budget counts `attempt - preemptions`, the attempts that were allowed to finish.
 *
 * Three more are worker-side facts of a running attempt, legal only in RUNNING and only under its
 * live epoch: JobProgressed and JobCheckpointed (D7), and OutputsCommitted (D4), which is only
 * ever appended together with, and just before, the JobSucceeded of the attempt that made them:
 *
 *   RUNNING --JobProgressed | JobCheckpointed--> RUNNING
 *   RUNNING --OutputsCommitted, JobSucceeded (one append)--> SUCCEEDED
 *
 * A job with steps (D5) is never queued: it waits BLOCKED while its steps run as jobs of their own
 * (steps.ts), records each step's facts there (or HELD, which only stops new steps starting), and
 * ends from BLOCKED. A retry of its steps is the one way out of SUCCEEDED or FAILED:
 *
 *   BLOCKED --StepsSucceeded--> SUCCEEDED        BLOCKED --StepsFailed--> FAILED
 *   SUCCEEDED | FAILED --StepsRetried--> BLOCKED
 *
 * A running job may also fan out (D5): its attempt ends cleanly, asking for child jobs, which
 * become its steps; it waits for them and ends with them, as a job with steps does:
 *
 *   RUNNING --RankExited, [OutputsCommitted,] JobFannedOut (one append)--> BLOCKED
 */
export const JOB_STATES = [
  'PENDING',
  'ADMITTED',
  'REJECTED',
  'BLOCKED',
  'QUEUED',
  'HELD',
  'LEASED',
  'STAGING',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'DEAD_LETTER',
] as const;
export type JobLifecycleState = (typeof JOB_STATES)[number];
/** Before its JobSubmitted, a job stream is empty: NONE is that, not a D1 state. */
export type JobStateName = 'NONE' | JobLifecycleState;

/** Where a transition may go from each state; `legalTransitions.X.includes(Y)` is the rule. */
export const legalTransitions: Readonly<Record<JobStateName, readonly JobLifecycleState[]>> = {
  NONE: ['PENDING'],
  PENDING: ['ADMITTED', 'REJECTED', 'CANCELLED'],
  ADMITTED: ['QUEUED', 'BLOCKED', 'HELD', 'CANCELLED'],
  BLOCKED: ['QUEUED', 'HELD', 'CANCELLED', 'SUCCEEDED', 'FAILED'],
  QUEUED: ['LEASED', 'HELD', 'CANCELLED'],
  HELD: ['ADMITTED', 'BLOCKED', 'QUEUED', 'CANCELLED'],
  LEASED: ['STAGING', 'RUNNING', 'QUEUED', 'FAILED', 'DEAD_LETTER', 'CANCELLED'],
  STAGING: ['RUNNING', 'QUEUED', 'FAILED', 'DEAD_LETTER', 'CANCELLED'],
  // BLOCKED: the attempt ended cleanly and fanned out to child jobs, which it now waits for (D5).
  RUNNING: ['SUCCEEDED', 'QUEUED', 'FAILED', 'DEAD_LETTER', 'CANCELLED', 'BLOCKED'],
  // Only a job with steps leaves these, when its steps are retried (D5).
  SUCCEEDED: ['BLOCKED'],
  FAILED: ['BLOCKED'],
  CANCELLED: [],
  DEAD_LETTER: [],
  REJECTED: [],
};

export const isLegalTransition = (from: JobStateName, to: JobLifecycleState): boolean =>
  legalTransitions[from].includes(to);

const TERMINAL_STATES: ReadonlySet<JobStateName> = new Set([
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'DEAD_LETTER',
  'REJECTED',
]);
export const isTerminal = (state: JobStateName): boolean => TERMINAL_STATES.has(state);

/** The states a lease is live in: the only ones where worker-side reports are accepted. */
const LEASED_STATES: ReadonlySet<JobStateName> = new Set(['LEASED', 'STAGING', 'RUNNING']);
export const holdsLease = (state: JobStateName): boolean => LEASED_STATES.has(state);

/** Hold is a manual gate before placement (D6): a job that holds nodes is cancelled instead. */
export type HoldableState = 'ADMITTED' | 'BLOCKED' | 'QUEUED';
export const isHoldable = (state: JobStateName): state is HoldableState =>
  state === 'ADMITTED' || state === 'BLOCKED' || state === 'QUEUED';

const STATE_AFTER: Readonly<Partial<Record<string, JobLifecycleState>>> = {
  JobSubmitted: 'PENDING',
  JobAdmitted: 'ADMITTED',
  JobRejected: 'REJECTED',
  JobBlocked: 'BLOCKED',
  JobQueued: 'QUEUED',
  JobHeld: 'HELD',
  JobLeased: 'LEASED',
  JobStagingStarted: 'STAGING',
  JobStarted: 'RUNNING',
  JobRetryScheduled: 'QUEUED',
  JobSucceeded: 'SUCCEEDED',
  JobFailed: 'FAILED',
  JobDeadLettered: 'DEAD_LETTER',
  JobCancelled: 'CANCELLED',
  AttemptPreempted: 'QUEUED',
  StepsSucceeded: 'SUCCEEDED',
  StepsFailed: 'FAILED',
  StepsRetried: 'BLOCKED',
  JobFannedOut: 'BLOCKED',
};

/**
 * The state a job event moves the job to, for readers that check a recorded history against the
 * state machine (tests, the chaos suite, audits) without folding it. undefined: the event is about
 * an attempt or a rank, or an intent, and leaves the state where it is. A release goes back to
 * where the hold found the job, which the event itself names.
 */
export const stateAfterEvent = (event: {
  readonly type: string;
  readonly data: Readonly<Record<string, unknown>>;
}): JobLifecycleState | undefined =>
  event.type === 'JobReleased'
    ? (event.data['releasedTo'] as JobLifecycleState)
    : STATE_AFTER[event.type];

/**
 * Where the facts that do not move the state may appear: a reader checking a history (the chaos
 * suite, the e2e) refuses one recorded anywhere else.
 */
const STATE_OF_ATTEMPT_FACT: Readonly<Partial<Record<string, readonly JobLifecycleState[]>>> = {
  JobProgressed: ['RUNNING'],
  JobCheckpointed: ['RUNNING'],
  OutputsCommitted: ['RUNNING'],
  AttemptPreemptionRequested: ['LEASED', 'STAGING', 'RUNNING'],
  StepSubmitted: ['BLOCKED', 'HELD'],
  StepSucceeded: ['BLOCKED', 'HELD'],
  StepFailed: ['BLOCKED', 'HELD'],
  StepSkipped: ['BLOCKED', 'HELD'],
};

/** Whether an event that leaves the state where it is may be recorded in `state`. */
export const isLegalInState = (state: JobStateName, eventType: string): boolean => {
  const allowed = STATE_OF_ATTEMPT_FACT[eventType];
  return allowed === undefined || (state !== 'NONE' && allowed.includes(state));
};

/** A job's stream is known before its first event: the handler opens `job-<id>` for a tenant. */
export interface JobIdentity {
  readonly tenant: string;
  readonly jobId: string;
}

export interface UnsubmittedJob extends JobIdentity {
  readonly state: 'NONE';
}

export interface AttemptFailure {
  readonly attempt: number;
  readonly reason: string;
}

export interface CancelRequest {
  readonly reason: string;
  readonly requestedBy: string;
  readonly requestedAt: string;
}

export interface PreemptRequest {
  readonly preemptedBy: string;
  readonly reason: string;
  readonly requestedAt: string;
}

export interface SubmittedJob extends JobIdentity {
  readonly state: JobLifecycleState;
  readonly spec: JobSpec;
  readonly idempotencyKey: string | null;
  /** The number of the current or last attempt; 0 until the first lease. */
  readonly attempt: number;
  /** The epoch of the current or last lease; 0 until the first. Only ever grows. */
  readonly leaseEpoch: number;
  /**
   * Whether the lease of `leaseEpoch` still stands. Once its attempt is over, every report made
   * under it is stale (invariant 5), even though no newer lease exists yet.
   */
  readonly leaseActive: boolean;
  readonly leaseExpiresAt: string | null;
  /** The gang the current lease locks, ordered by rank; empty while the job holds no nodes. */
  readonly nodes: readonly RankAssignment[];
  /** The current or last attempt's exit code per rank; null until that rank reports. */
  readonly exitCodes: readonly (number | null)[];
  readonly waitingOn: readonly string[];
  /** Where JobReleased returns a HELD job. */
  readonly heldFrom: HoldableState | null;
  /** A retry's backoff: no lease before this time. */
  readonly notBefore: string | null;
  readonly cancelRequest: CancelRequest | null;
  /** The live attempt is being preempted (C6): its ranks are stopping. */
  readonly preemptRequest: PreemptRequest | null;
  /** Attempts ended by preemption: leased, but not charged to the retry budget. */
  readonly preemptions: number;
  /** Every failed attempt's reason, in order: what a dead letter reports (D6). */
  readonly failures: readonly AttemptFailure[];
  /** The current attempt's outputs, verified as its ranks exit, not the job's until it succeeds. */
  readonly pendingOutputs: readonly OutputFile[];
  /** The child jobs the current attempt's rank 0 asked for (D5), not the job's until it ends. */
  readonly pendingChildren: readonly ChildJobRequest[];
  /** The job's committed outputs (D4): set once, with its success; empty until then. */
  readonly outputs: readonly OutputFile[];
  /** The current attempt's last reported progress, 0 to 1; null until it reports one (D7). */
  readonly progress: number | null;
  /** The last checkpoint any attempt saved, what a retry resumes from (D7). */
  readonly checkpoint: (OutputFile & { readonly attempt: number }) | null;
  readonly submittedAt: string | null;
  readonly admittedAt: string | null;
  readonly queuedAt: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly reasonCode: string | null;
  readonly reason: string | null;
  /** The step of another job this job runs (D5); null for a job submitted by a tenant. */
  readonly parent: StepOf | null;
  /** A job with steps: its steps' standing, in the spec's order; empty for any other job. */
  readonly steps: readonly StepStatus[];
  /** A job with steps: the run its steps are in, 1 until a retry; 0 for any other job. */
  readonly run: number;
}

export type JobState = UnsubmittedJob | SubmittedJob;

export const initialJobState = (identity: JobIdentity): JobState => ({
  tenant: identity.tenant,
  jobId: identity.jobId,
  state: 'NONE',
});

/** Ends the current lease: its epoch stays (epochs only grow) but fences everything from now. */
const endLease = (job: SubmittedJob): SubmittedJob => ({ ...job, leaseActive: false });

/**
 * Applies one fact. Total and pure: it never throws and never refuses, because an event is
 * history, already decided; refusing is decide's job. A fact about a job that was never
 * submitted cannot come from decide, so it changes nothing.
 */
export const evolve = (state: JobState, event: JobEvent): JobState => {
  if (event.type === 'JobSubmitted') {
    const { spec, idempotencyKey, submittedAt, parent } = event.data;
    return {
      tenant: state.tenant,
      jobId: state.jobId,
      state: 'PENDING',
      spec,
      idempotencyKey,
      attempt: 0,
      leaseEpoch: 0,
      leaseActive: false,
      leaseExpiresAt: null,
      nodes: [],
      exitCodes: [],
      waitingOn: [],
      heldFrom: null,
      notBefore: null,
      cancelRequest: null,
      preemptRequest: null,
      preemptions: 0,
      failures: [],
      pendingOutputs: [],
      pendingChildren: [],
      outputs: [],
      progress: null,
      checkpoint: null,
      submittedAt: submittedAt ?? null,
      admittedAt: null,
      queuedAt: null,
      startedAt: null,
      finishedAt: null,
      reasonCode: null,
      reason: null,
      parent: parent ?? null,
      steps: initialSteps(spec),
      run: spec.steps.length > 0 ? 1 : 0,
    };
  }
  if (state.state === 'NONE') return state;
  const job = state;
  switch (event.type) {
    case 'JobAdmitted':
      return { ...job, state: 'ADMITTED', admittedAt: event.data.admittedAt };
    case 'JobRejected':
      return {
        ...job,
        state: 'REJECTED',
        reasonCode: event.data.code,
        reason: event.data.reason,
        finishedAt: event.data.rejectedAt ?? null,
      };
    case 'JobBlocked':
      return { ...job, state: 'BLOCKED', waitingOn: event.data.waitingOn };
    case 'JobQueued':
      return { ...job, state: 'QUEUED', waitingOn: [], queuedAt: event.data.queuedAt };
    case 'JobHeld':
      return {
        ...job,
        state: 'HELD',
        heldFrom: isHoldable(job.state) ? job.state : (job.heldFrom ?? 'ADMITTED'),
        reason: event.data.reason === '' ? job.reason : event.data.reason,
      };
    case 'JobReleased':
      return { ...job, state: event.data.releasedTo, heldFrom: null };
    case 'JobLeased': {
      const nodes = [...event.data.nodes].sort((a, b) => a.rank - b.rank);
      return {
        ...job,
        state: 'LEASED',
        attempt: event.data.attempt,
        leaseEpoch: event.data.leaseEpoch,
        leaseActive: true,
        leaseExpiresAt: event.data.leaseExpiresAt,
        nodes,
        exitCodes: nodes.map(() => null),
        notBefore: null,
        preemptRequest: null,
        pendingOutputs: [],
        pendingChildren: [],
        progress: null,
      };
    }
    case 'JobStagingStarted':
      return { ...job, state: 'STAGING' };
    case 'JobStarted':
      return { ...job, state: 'RUNNING', startedAt: event.data.startedAt };
    case 'RankExited':
      return {
        ...job,
        exitCodes: job.exitCodes.map((code, rank) =>
          rank === event.data.rank ? event.data.exitCode : code,
        ),
        pendingOutputs: [...job.pendingOutputs, ...event.data.outputs],
        pendingChildren: [...job.pendingChildren, ...event.data.children],
      };
    case 'OutputsCommitted':
      return { ...job, outputs: event.data.outputs, pendingOutputs: [] };
    case 'JobProgressed':
      return { ...job, progress: event.data.progress };
    case 'JobCheckpointed':
      return { ...job, checkpoint: { ...event.data.checkpoint, attempt: event.data.attempt } };
    case 'LeaseExpired': {
      // A lease that lapses while a preemption stops the ranks ends a preempted attempt, not a
      // failed one: AttemptPreempted follows in the same decision.
      if (job.preemptRequest) return endLease(job);
      const reason = `attempt ${event.data.attempt}: lease ${event.data.leaseEpoch} expired`;
      return {
        ...endLease(job),
        reason,
        failures: [...job.failures, { attempt: event.data.attempt, reason }],
      };
    }
    case 'AttemptFailed':
      return {
        ...endLease(job),
        exitCodes: event.data.exitCodes,
        reason: event.data.reason,
        failures: [...job.failures, { attempt: event.data.attempt, reason: event.data.reason }],
      };
    case 'JobRetryScheduled':
      return {
        ...endLease(job),
        state: 'QUEUED',
        nodes: [],
        notBefore: event.data.notBefore,
        queuedAt: event.data.scheduledAt,
      };
    case 'JobSucceeded':
      return {
        ...endLease(job),
        state: 'SUCCEEDED',
        exitCodes: event.data.exitCodes,
        finishedAt: event.data.succeededAt,
        reason: null,
      };
    case 'JobFailed':
      return {
        ...endLease(job),
        state: 'FAILED',
        reason: event.data.reason,
        finishedAt: event.data.failedAt,
      };
    case 'JobDeadLettered':
      return {
        ...endLease(job),
        state: 'DEAD_LETTER',
        reason: event.data.reason,
        finishedAt: event.data.deadLetteredAt,
      };
    case 'JobCancelRequested':
      return {
        ...job,
        cancelRequest: {
          reason: event.data.reason,
          requestedBy: event.data.requestedBy,
          requestedAt: event.data.requestedAt,
        },
      };
    case 'JobCancelled':
      return {
        ...endLease(job),
        state: 'CANCELLED',
        reason: event.data.reason,
        finishedAt: event.data.cancelledAt ?? null,
      };
    case 'AttemptPreemptionRequested':
      return {
        ...job,
        preemptRequest: {
          preemptedBy: event.data.preemptedBy,
          reason: event.data.reason,
          requestedAt: event.data.requestedAt,
        },
      };
    case 'AttemptPreempted':
      return {
        ...endLease(job),
        state: 'QUEUED',
        nodes: [],
        exitCodes: event.data.exitCodes,
        notBefore: null,
        queuedAt: event.data.preemptedAt,
        preemptRequest: null,
        preemptions: job.preemptions + 1,
      };
    case 'StepSubmitted':
    case 'StepSucceeded':
    case 'StepFailed':
    case 'StepSkipped':
      return { ...job, steps: evolveSteps(job.steps, event) };
    case 'StepsRetried':
      return {
        ...job,
        state: 'BLOCKED',
        run: event.data.run,
        steps: evolveSteps(job.steps, event),
        waitingOn: event.data.steps,
        finishedAt: null,
        reason: null,
      };
    case 'JobFannedOut':
      return {
        ...endLease(job),
        state: 'BLOCKED',
        exitCodes: event.data.exitCodes,
        steps: [...job.steps, ...fannedOutSteps(event.data.children)],
        run: Math.max(job.run, 1),
        waitingOn: event.data.children.map((c) => c.name),
        pendingChildren: [],
        reason: null,
      };
    case 'StepsSucceeded':
      return { ...job, state: 'SUCCEEDED', finishedAt: event.data.succeededAt, reason: null };
    case 'StepsFailed':
      return {
        ...job,
        state: 'FAILED',
        finishedAt: event.data.failedAt,
        reason: event.data.reason,
      };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
};

/** Folds a history from the stream's identity: how a handler rebuilds the job before deciding. */
export const foldJob = (identity: JobIdentity, events: readonly JobEvent[]): JobState =>
  events.reduce(evolve, initialJobState(identity));
