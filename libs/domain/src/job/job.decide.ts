import {
  ErrorCodes,
  GantryError,
  type JobCommand,
  type JobCommandType,
  type JobEvent,
  type OutputFile,
  type RankAssignment,
} from '@gantry/contracts';
import {
  holdsLease,
  isHoldable,
  isTerminal,
  type JobLifecycleState,
  type JobState,
  type SubmittedJob,
} from './job.aggregate';
import { backoffSeconds } from './retry-backoff';
import { checkReportedChildren, checkReportedOutputs } from './reported-outputs';
import {
  decideRetrySteps,
  decideStepOutcome,
  decideStepSubmitted,
  hasSteps,
  stepsCompletion,
} from './steps';

/**
 * decide: the job's answer to a command, given its state and the time. Pure: the same state,
 * command and `now` give the same events, which is what makes a decision replayable. A refusal
 * is a GantryError with a stable code:
 * - ILLEGAL_TRANSITION: the command does not apply in the job's state (D1);
 * - LEASE_STALE_EPOCH: a worker-side report under a lease that is not the live one (invariant 5);
 * - BACKOFF_NOT_ELAPSED: a lease offered before a retry's backoff is over (retryable);
 * - NOT_FOUND: no such job; VALIDATION_FAILED: a command that contradicts the job itself.
 *
 * Redeliveries are answered with no events rather than an error where the command's effect is
 * already recorded (a repeated submission with the same key, a second rank's "started"): the
 * bus delivers at least once, and a repeat that changes nothing is not a mistake.
 */
/** What the artifact store holds under a ref: the size and digest staging measured on upload. */
export interface StoredFile {
  readonly size: number;
  readonly sha256: string;
}

/**
 * Facts from outside the job a decision needs, gathered by the caller before it decides, so the
 * decision stays pure. `storedFiles`: for each output or checkpoint ref a report names, what the
 * artifact store holds (absent: nothing, or not the job's tenant's). The agent's word about its
 * own uploads is never taken on trust (D4).
 */
export interface DecisionFacts {
  readonly storedFiles?: ReadonlyMap<string, StoredFile>;
  /**
   * The tenant's retry rate limit (D3): no retry of this tenant's job may start before this
   * instant, so a tenant whose jobs fail en masse spreads its retries out instead of flooding the
   * queue. Absent: the job's own backoff alone decides.
   */
  readonly retryNotBefore?: Date;
}

export const decide = (
  state: JobState,
  command: JobCommand,
  now: Date,
  facts: DecisionFacts = {},
): JobEvent[] => {
  const at = now.toISOString();
  if (command.type === 'SubmitJob') {
    if (state.state === 'NONE') {
      return [
        {
          type: 'JobSubmitted',
          data: {
            jobId: state.jobId,
            spec: command.data.spec,
            idempotencyKey: command.data.idempotencyKey,
            ...(command.data.parent === undefined ? {} : { parent: command.data.parent }),
            submittedAt: at,
          },
        },
      ];
    }
    if (
      command.data.idempotencyKey !== null &&
      command.data.idempotencyKey === state.idempotencyKey
    )
      return [];
    throw illegal(state, command.type, 'the job already exists');
  }

  const job = existingJob(state, command);
  const { jobId } = job;
  switch (command.type) {
    case 'AdmitJob':
      requireState(job, command.type, ['PENDING']);
      // A job with steps is never queued: going on, it waits for its steps (D5).
      if (command.data.andQueue && hasSteps(job.spec))
        return [
          { type: 'JobAdmitted', data: { jobId, admittedAt: at } },
          {
            type: 'JobBlocked',
            data: { jobId, waitingOn: job.spec.steps.map((s) => s.name), blockedAt: at },
          },
        ];
      return command.data.andQueue
        ? [
            { type: 'JobAdmitted', data: { jobId, admittedAt: at } },
            { type: 'JobQueued', data: { jobId, queuedAt: at } },
          ]
        : [{ type: 'JobAdmitted', data: { jobId, admittedAt: at } }];

    case 'RejectJob': {
      requireState(job, command.type, ['PENDING']);
      const { code, reason, details } = command.data;
      return [{ type: 'JobRejected', data: { jobId, code, reason, details, rejectedAt: at } }];
    }

    case 'BlockJob':
      requireState(job, command.type, ['ADMITTED']);
      return [
        { type: 'JobBlocked', data: { jobId, waitingOn: command.data.waitingOn, blockedAt: at } },
      ];

    case 'QueueJob':
      if (hasSteps(job.spec))
        throw illegal(job, command.type, 'a job with steps runs only its steps');
      requireState(job, command.type, ['ADMITTED', 'BLOCKED']);
      return [{ type: 'JobQueued', data: { jobId, queuedAt: at } }];

    case 'HoldJob':
      if (!isHoldable(job.state))
        throw illegal(job, command.type, 'only a job that holds no nodes yet can be held');
      return [
        {
          type: 'JobHeld',
          data: { jobId, reason: command.data.reason, heldBy: command.data.heldBy, heldAt: at },
        },
      ];

    case 'ReleaseJob': {
      requireState(job, command.type, ['HELD']);
      const releasedTo = job.heldFrom ?? 'ADMITTED';
      const released: JobEvent = {
        type: 'JobReleased',
        data: { jobId, releasedTo, releasedBy: command.data.releasedBy, releasedAt: at },
      };
      // Steps that all ended while the job was held end it now (D5).
      return job.steps.length > 0 && releasedTo === 'BLOCKED'
        ? [released, ...stepsCompletion(job, at)]
        : [released];
    }

    case 'RecordStepSubmitted':
      if (job.steps.length === 0) throw noSteps(job, command.type);
      // A child reporting to a job that is over (cancelled, or a run that ended) changes nothing.
      if (job.state !== 'BLOCKED' && job.state !== 'HELD') return [];
      return decideStepSubmitted(job, command.data, at);

    case 'RecordStepOutcome':
      if (job.steps.length === 0) throw noSteps(job, command.type);
      if (job.state !== 'BLOCKED' && job.state !== 'HELD') return [];
      return decideStepOutcome({ ...job, held: job.state === 'HELD' }, command.data, at);

    case 'RetrySteps':
      if (job.steps.length === 0) throw noSteps(job, command.type);
      requireState(job, command.type, ['FAILED', 'SUCCEEDED']);
      return decideRetrySteps(job, command.data, at);

    case 'LeaseJob':
      return leaseJob(job, command.data, now);

    case 'StartStaging':
      fence(job, command.type, command.data.leaseEpoch);
      // Every agent of the gang reports; the first one moves the job, the rest are repeats.
      if (job.state !== 'LEASED') return [];
      return [
        {
          type: 'JobStagingStarted',
          data: {
            jobId,
            attempt: job.attempt,
            leaseEpoch: job.leaseEpoch,
            stagingStartedAt: at,
          },
        },
      ];

    case 'StartAttempt':
      fence(job, command.type, command.data.leaseEpoch);
      if (job.state === 'RUNNING') return [];
      return [
        {
          type: 'JobStarted',
          data: { jobId, attempt: job.attempt, leaseEpoch: job.leaseEpoch, startedAt: at },
        },
      ];

    case 'ReportAttemptExit':
      fence(job, command.type, command.data.leaseEpoch);
      return reportExit(job, command.data, now, facts);

    case 'ReportProgress': {
      fence(job, command.type, command.data.leaseEpoch);
      rankOf(job, command.data.rank);
      requireRunning(job, command.type);
      if (job.progress === command.data.progress) return [];
      return [
        {
          type: 'JobProgressed',
          data: {
            jobId,
            attempt: job.attempt,
            leaseEpoch: job.leaseEpoch,
            progress: command.data.progress,
            progressedAt: at,
          },
        },
      ];
    }

    case 'ReportCheckpoint': {
      fence(job, command.type, command.data.leaseEpoch);
      rankOf(job, command.data.rank);
      requireRunning(job, command.type);
      const { checkpoint } = command.data;
      // A redelivered report of the checkpoint already recorded.
      if (job.checkpoint?.ref === checkpoint.ref && job.checkpoint.attempt === job.attempt)
        return [];
      verifyStored(job, [checkpoint], facts, 'checkpoint');
      return [
        {
          type: 'JobCheckpointed',
          data: {
            jobId,
            attempt: job.attempt,
            leaseEpoch: job.leaseEpoch,
            checkpoint,
            checkpointedAt: at,
          },
        },
      ];
    }

    case 'ReportNodeLost': {
      fence(job, command.type, command.data.leaseEpoch);
      const lost = job.nodes.filter((n) => n.nodeId === command.data.nodeId);
      if (lost.length === 0) {
        throw new GantryError(
          ErrorCodes.VALIDATION_FAILED,
          `node ${command.data.nodeId} is not in job ${jobId}'s gang`,
          { details: { jobId, nodeId: command.data.nodeId, leaseEpoch: job.leaseEpoch } },
        );
      }
      // The node and its processes are gone, and the lease ends with this decision: agents kill
      // whatever survives on the other nodes when they see it end (E1), and fencing keeps
      // anything they still report out. So a pending cancel completes here.
      if (job.cancelRequest) return [cancelled(job, at)];
      if (job.preemptRequest) return [preempted(job, [...job.exitCodes], at)];
      const ranks = lost.map((n) => n.rank).join(', ');
      const reason = `attempt ${job.attempt}: node ${command.data.nodeId} (rank ${ranks}) was lost`;
      return [
        {
          type: 'AttemptFailed',
          data: {
            jobId,
            attempt: job.attempt,
            leaseEpoch: job.leaseEpoch,
            reason,
            exitCodes: [...job.exitCodes],
            nodeLost: command.data.nodeId,
            failedAt: at,
          },
        },
        retryOrDeadLetter(job, reason, command.data.retryJitter, now, facts),
      ];
    }

    case 'ExpireLease': {
      fence(job, command.type, command.data.leaseEpoch);
      const expired: JobEvent = {
        type: 'LeaseExpired',
        data: { jobId, attempt: job.attempt, leaseEpoch: job.leaseEpoch, expiredAt: at },
      };
      if (job.cancelRequest) return [expired, cancelled(job, at)];
      if (job.preemptRequest) return [expired, preempted(job, [...job.exitCodes], at)];
      // C4: a reaped lease sends the job back to the queue, on the same budget as any failure.
      const reason = `attempt ${job.attempt}: lease ${job.leaseEpoch} expired`;
      return [expired, retryOrDeadLetter(job, reason, command.data.retryJitter, now, facts)];
    }

    case 'CancelJob': {
      if (isTerminal(job.state))
        throw illegal(job, command.type, `a ${job.state} job is over and cannot be cancelled`);
      const requestedBy = command.data.requestedBy ?? 'unknown';
      if (!holdsLease(job.state)) {
        // Nothing runs, so the intent and the fact are one.
        return [
          {
            type: 'JobCancelled',
            data: { jobId, reason: command.data.reason, cancelledBy: requestedBy, cancelledAt: at },
          },
        ];
      }
      // Processes may be running on the gang's nodes: record the intent; the fact follows once
      // every rank has reported its exit (or the lease ends), so CANCELLED means nothing runs.
      if (job.cancelRequest) return [];
      return [
        {
          type: 'JobCancelRequested',
          data: { jobId, reason: command.data.reason, requestedBy, requestedAt: at },
        },
      ];
    }

    case 'PreemptAttempt': {
      fence(job, command.type, command.data.leaseEpoch);
      // A cancel already stops the ranks and ends the job; a second request is a redelivery.
      if (job.cancelRequest || job.preemptRequest) return [];
      if (command.data.preemptedBy === jobId) {
        throw new GantryError(ErrorCodes.VALIDATION_FAILED, `job ${jobId} cannot preempt itself`, {
          details: { jobId },
        });
      }
      return [
        {
          type: 'AttemptPreemptionRequested',
          data: {
            jobId,
            attempt: job.attempt,
            leaseEpoch: job.leaseEpoch,
            preemptedBy: command.data.preemptedBy,
            reason: command.data.reason,
            requestedAt: at,
          },
        },
      ];
    }

    default: {
      const unhandled: never = command;
      throw new GantryError(
        ErrorCodes.VALIDATION_FAILED,
        `unknown job command ${(unhandled as JobCommand).type}`,
      );
    }
  }
};

type CommandData<T extends JobCommandType> = Extract<JobCommand, { type: T }>['data'];

const leaseJob = (job: SubmittedJob, data: CommandData<'LeaseJob'>, now: Date): JobEvent[] => {
  requireState(job, 'LeaseJob', ['QUEUED']);
  if (data.leaseEpoch <= job.leaseEpoch) {
    throw new GantryError(
      ErrorCodes.LEASE_STALE_EPOCH,
      `lease epoch ${data.leaseEpoch} is not newer than job ${job.jobId}'s epoch ${job.leaseEpoch}`,
      { details: { jobId: job.jobId, leaseEpoch: data.leaseEpoch, current: job.leaseEpoch } },
    );
  }
  if (job.notBefore !== null && now.getTime() < Date.parse(job.notBefore)) {
    throw new GantryError(
      ErrorCodes.BACKOFF_NOT_ELAPSED,
      `job ${job.jobId} may not be leased before ${job.notBefore}`,
      { retryable: true, details: { jobId: job.jobId, notBefore: job.notBefore } },
    );
  }
  const problem = gangProblem(data.nodes, job.spec.nodes);
  if (problem) {
    throw new GantryError(ErrorCodes.VALIDATION_FAILED, `lease for job ${job.jobId}: ${problem}`, {
      details: { jobId: job.jobId, gangSize: job.spec.nodes, nodes: data.nodes },
    });
  }
  if (Date.parse(data.leaseExpiresAt) <= now.getTime()) {
    throw new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      `lease for job ${job.jobId} expires at ${data.leaseExpiresAt}, which is not in the future`,
      { details: { jobId: job.jobId, leaseExpiresAt: data.leaseExpiresAt } },
    );
  }
  return [
    {
      type: 'JobLeased',
      data: {
        jobId: job.jobId,
        attempt: job.attempt + 1,
        leaseEpoch: data.leaseEpoch,
        nodes: [...data.nodes].sort((a, b) => a.rank - b.rank),
        leaseExpiresAt: new Date(Date.parse(data.leaseExpiresAt)).toISOString(),
        leasedAt: now.toISOString(),
      },
    },
  ];
};

/** A gang is all N nodes or none (C3): ranks exactly 0..N-1, each on a node of its own. */
const gangProblem = (nodes: readonly RankAssignment[], gangSize: number): string | undefined => {
  if (nodes.length !== gangSize)
    return `the gang needs ${gangSize} nodes, the lease has ${nodes.length}`;
  const ranks = new Set(nodes.map((n) => n.rank));
  for (let rank = 0; rank < gangSize; rank += 1) {
    if (!ranks.has(rank)) return `rank ${rank} has no node`;
  }
  if (new Set(nodes.map((n) => n.nodeId)).size !== nodes.length)
    return 'a node appears twice in the gang';
  return undefined;
};

/**
 * Gang semantics (E3): the attempt succeeds only when every rank exited 0, and fails as soon as
 * one rank exits non-zero; the agents then kill the other ranks, whose later reports are fenced.
 */
const reportExit = (
  job: SubmittedJob,
  data: CommandData<'ReportAttemptExit'>,
  now: Date,
  facts: DecisionFacts,
): JobEvent[] => {
  const at = now.toISOString();
  const node = rankOf(job, data.rank);
  // A rank exits once; a second report of it is a redelivery.
  if (job.exitCodes[data.rank] !== null && job.exitCodes[data.rank] !== undefined) return [];
  if (data.outputs.length > 0) {
    checkReportedOutputs(job, data);
    verifyStored(job, data.outputs, facts, 'output');
  }
  if (data.children.length > 0) checkReportedChildren(job, data);
  if (data.exitCode === 0 && job.state !== 'RUNNING' && !job.cancelRequest && !job.preemptRequest) {
    // A clean exit of a process the job never saw start: the start report is still on its way.
    throw new GantryError(
      ErrorCodes.ILLEGAL_TRANSITION,
      `job ${job.jobId} is ${job.state}: a rank cannot have finished before the attempt started`,
      {
        retryable: true,
        details: { jobId: job.jobId, state: job.state, command: 'ReportAttemptExit' },
      },
    );
  }
  const exited: JobEvent = {
    type: 'RankExited',
    data: {
      jobId: job.jobId,
      attempt: job.attempt,
      leaseEpoch: job.leaseEpoch,
      rank: data.rank,
      nodeId: node.nodeId,
      exitCode: data.exitCode,
      outputs: data.outputs,
      children: data.children,
      exitedAt: at,
    },
  };
  const exitCodes = job.exitCodes.map((code, rank) => (rank === data.rank ? data.exitCode : code));
  const everyRankReported = exitCodes.every((code) => code !== null);

  if (job.cancelRequest) return everyRankReported ? [exited, cancelled(job, at)] : [exited];
  // C6: ranks stopped by a preemption exit as they may (a signal, a clean exit after saving a
  // checkpoint); none of it is a failure. Only a started gang that finished cleanly anyway
  // succeeds: a clean exit before JobStarted was never the attempt's work.
  const finished =
    job.state === 'RUNNING' && everyRankReported && exitCodes.every((code) => code === 0);
  if (job.preemptRequest && !finished)
    return everyRankReported ? [exited, preempted(job, exitCodes, at)] : [exited];

  if (data.exitCode === 0) {
    if (!everyRankReported) return [exited];
    // D4: the outputs become the job's in the same append as its success, so no reader ever sees
    // a SUCCEEDED job without them, nor committed outputs of an attempt that did not succeed. The
    // success ends the lease, which fences every later report: a job commits outputs once.
    const outputs = [...job.pendingOutputs, ...data.outputs];
    const committed: JobEvent[] =
      outputs.length === 0
        ? []
        : [
            {
              type: 'OutputsCommitted',
              data: {
                jobId: job.jobId,
                attempt: job.attempt,
                leaseEpoch: job.leaseEpoch,
                outputs,
                committedAt: at,
              },
            },
          ];
    const children = [...job.pendingChildren, ...data.children];
    if (children.length > 0) {
      // D5 fan-out: the attempt is over and its outputs are the job's, but the job now waits
      // for the children it asked for, and ends with them.
      return [
        exited,
        ...committed,
        {
          type: 'JobFannedOut',
          data: {
            jobId: job.jobId,
            attempt: job.attempt,
            leaseEpoch: job.leaseEpoch,
            exitCodes,
            children,
            fannedOutAt: at,
          },
        },
      ];
    }
    return [
      exited,
      ...committed,
      {
        type: 'JobSucceeded',
        data: {
          jobId: job.jobId,
          attempt: job.attempt,
          leaseEpoch: job.leaseEpoch,
          exitCodes,
          succeededAt: at,
        },
      },
    ];
  }

  const reason =
    data.cause === 'max-runtime'
      ? `attempt ${job.attempt}: rank ${data.rank} on node ${node.nodeId} ran past maxRuntimeSeconds (${String(job.spec.maxRuntimeSeconds)} s) and was killed`
      : `attempt ${job.attempt}: rank ${data.rank} on node ${node.nodeId} exited with code ${data.exitCode}`;
  const failed: JobEvent = {
    type: 'AttemptFailed',
    data: {
      jobId: job.jobId,
      attempt: job.attempt,
      leaseEpoch: job.leaseEpoch,
      reason,
      exitCodes,
      cause: data.cause,
      failedAt: at,
    },
  };
  const noRetry =
    data.cause === 'max-runtime'
      ? `${reason}; a retry would meet the same limit`
      : job.spec.retry.nonRetryableExitCodes.includes(data.exitCode)
        ? `${reason}, which the retry policy marks non-retryable`
        : null;
  if (noRetry !== null) {
    // Retrying cannot help: fail now, budget untouched.
    return [
      exited,
      failed,
      {
        type: 'JobFailed',
        data: { jobId: job.jobId, attempt: job.attempt, reason: noRetry, failedAt: at },
      },
    ];
  }
  return [exited, failed, retryOrDeadLetter(job, reason, data.retryJitter, now, facts)];
};

const rankOf = (job: SubmittedJob, rank: number): RankAssignment => {
  const node = job.nodes.find((n) => n.rank === rank);
  if (!node) {
    throw new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      `rank ${rank} is not in job ${job.jobId}'s gang of ${job.nodes.length}`,
      { details: { jobId: job.jobId, rank, gangSize: job.nodes.length } },
    );
  }
  return node;
};

/** Progress and checkpoints come from a running process; before JobStarted they are early. */
const requireRunning = (job: SubmittedJob, command: JobCommandType): void => {
  if (job.state === 'RUNNING') return;
  throw new GantryError(
    ErrorCodes.ILLEGAL_TRANSITION,
    `${command} refused for job ${job.jobId} in state ${job.state}: the attempt is not running`,
    {
      retryable: job.state === 'LEASED' || job.state === 'STAGING',
      details: { jobId: job.jobId, state: job.state, command },
    },
  );
};

/**
 * Every reported file must be what the artifact store holds under its ref, byte count and digest:
 * an agent that miscounted, a corrupted upload or a ref that is not the tenant's is refused, and
 * nothing is recorded.
 */
const verifyStored = (
  job: SubmittedJob,
  files: readonly OutputFile[],
  facts: DecisionFacts,
  what: 'output' | 'checkpoint',
): void => {
  for (const file of files) {
    const stored = facts.storedFiles?.get(file.ref);
    if (stored !== undefined && stored.sha256 === file.sha256 && stored.size === file.size)
      continue;
    throw new GantryError(
      ErrorCodes.OUTPUT_DIGEST_MISMATCH,
      stored === undefined
        ? `job ${job.jobId}: ${what} ${file.name} names ${file.ref}, which the artifact store does not hold`
        : `job ${job.jobId}: ${what} ${file.name} is not what the artifact store holds under ${file.ref}`,
      {
        details: {
          jobId: job.jobId,
          name: file.name,
          ref: file.ref,
          reported: { size: file.size, sha256: file.sha256 },
          stored: stored ?? null,
        },
      },
    );
  }
};

const MAX_REASON = 4_000;

/**
 * After a failed attempt: another one after a backoff while the budget lasts (D3), else a dead
 * letter whose reason names every attempt's failure, not only the last (D6).
 */
const retryOrDeadLetter = (
  job: SubmittedJob,
  reason: string,
  jitter: number,
  now: Date,
  facts: DecisionFacts,
): JobEvent => {
  const policy = job.spec.retry;
  // Preempted attempts were never allowed to finish: they are not charged to the budget (C6).
  const charged = job.attempt - job.preemptions;
  if (charged >= policy.maxAttempts) {
    const history = [...job.failures.map((f) => f.reason), reason].join('; ');
    const full = `retry budget of ${policy.maxAttempts} attempt(s) spent: ${history}`;
    return {
      type: 'JobDeadLettered',
      data: {
        jobId: job.jobId,
        attempts: job.attempt,
        reason: full.length > MAX_REASON ? `${full.slice(0, MAX_REASON - 1)}…` : full,
        deadLetteredAt: now.toISOString(),
      },
    };
  }
  // The job's own backoff, or later when its tenant's retries are being spread out (D3).
  const backoffEnd = now.getTime() + Math.round(backoffSeconds(policy, charged, jitter) * 1_000);
  const notBefore = Math.max(backoffEnd, facts.retryNotBefore?.getTime() ?? 0);
  return {
    type: 'JobRetryScheduled',
    data: {
      jobId: job.jobId,
      nextAttempt: job.attempt + 1,
      backoffSeconds: (notBefore - now.getTime()) / 1_000,
      notBefore: new Date(notBefore).toISOString(),
      scheduledAt: now.toISOString(),
    },
  };
};

const preempted = (
  job: SubmittedJob,
  exitCodes: readonly (number | null)[],
  at: string,
): JobEvent => ({
  type: 'AttemptPreempted',
  data: {
    jobId: job.jobId,
    attempt: job.attempt,
    leaseEpoch: job.leaseEpoch,
    preemptedBy: job.preemptRequest?.preemptedBy ?? job.jobId,
    reason: job.preemptRequest?.reason ?? 'preempted',
    exitCodes: [...exitCodes],
    preemptedAt: at,
  },
});

const cancelled = (job: SubmittedJob, at: string): JobEvent => ({
  type: 'JobCancelled',
  data: {
    jobId: job.jobId,
    reason: job.cancelRequest?.reason ?? '',
    cancelledBy: job.cancelRequest?.requestedBy ?? 'unknown',
    cancelledAt: at,
  },
});

const existingJob = (
  state: JobState,
  command: Exclude<JobCommand, { type: 'SubmitJob' }>,
): SubmittedJob => {
  if (state.state === 'NONE') {
    throw new GantryError(ErrorCodes.NOT_FOUND, `job ${state.jobId} does not exist`, {
      details: { jobId: state.jobId, command: command.type },
    });
  }
  if (command.data.jobId !== state.jobId) {
    // The handler opened the wrong stream: a bug at the edge, refused before it can do harm.
    throw new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      `${command.type} for job ${command.data.jobId} was decided against job ${state.jobId}`,
      { details: { jobId: state.jobId, commandJobId: command.data.jobId } },
    );
  }
  return state;
};

/**
 * Worker-side reports must carry the live lease's epoch (ARCHITECTURE.md invariant 5): a report
 * from an older lease, or from one whose attempt is over, is a zombie's and changes nothing.
 */
const fence = (job: SubmittedJob, command: JobCommandType, leaseEpoch: number): void => {
  if (job.leaseActive && leaseEpoch === job.leaseEpoch) return;
  throw new GantryError(
    ErrorCodes.LEASE_STALE_EPOCH,
    `${command} under lease epoch ${leaseEpoch} refused: job ${job.jobId}'s live lease is ${
      job.leaseActive ? `epoch ${job.leaseEpoch}` : 'none'
    }`,
    {
      details: {
        jobId: job.jobId,
        leaseEpoch,
        current: job.leaseActive ? job.leaseEpoch : null,
        state: job.state,
      },
    },
  );
};

const requireState = (
  job: SubmittedJob,
  command: JobCommandType,
  allowed: readonly JobLifecycleState[],
): void => {
  if (!allowed.includes(job.state))
    throw illegal(job, command, `it applies only to a job that is ${allowed.join(' or ')}`);
};

const noSteps = (job: SubmittedJob, command: JobCommandType): GantryError =>
  illegal(job, command, 'only a job with steps has steps to run or retry; submit this one again');

const illegal = (state: JobState, command: JobCommandType, why: string): GantryError =>
  new GantryError(
    ErrorCodes.ILLEGAL_TRANSITION,
    `${command} refused for job ${state.jobId} in state ${state.state}: ${why}`,
    { details: { jobId: state.jobId, state: state.state, command } },
  );
