export {
  JOB_STATES,
  evolve,
  foldJob,
  holdsLease,
  initialJobState,
  isHoldable,
  isLegalTransition,
  isTerminal,
  legalTransitions,
  type AttemptFailure,
  type CancelRequest,
  type HoldableState,
  type JobIdentity,
  type JobLifecycleState,
  type JobState,
  type JobStateName,
  type SubmittedJob,
  type UnsubmittedJob,
} from './job/job.aggregate';
export { decide } from './job/job.decide';
export { backoffCeilingSeconds, backoffSeconds } from './job/retry-backoff';
