export {
  startAttempt,
  DEFAULT_KILL_GRACE_MS,
  type StartAttemptOptions,
  type AttemptHandle,
  type AttemptExit,
  type ExitReason,
  type LimitsStatus,
} from './start-attempt';
export {
  rankEnvironment,
  childEnvironment,
  parseCoordinator,
  SAFE_PATH,
  type RankEnvironmentInput,
  type ChildEnvironmentInput,
  type RuntimeKind,
  type Coordinator,
} from './environment';
export {
  MAX_LINE_BYTES,
  LineSplitter,
  OutputSequencer,
  type OutputChunk,
  type OutputStream,
} from './output-lines';
export {
  workDirPath,
  assertInsideWorkRoot,
  removeWorkDir,
  type WorkDirCoordinates,
} from './work-dir';
export { resolveRunAs, FALLBACK_JOB_USER, type RunAs } from './run-as';
export { cgroupLimitValues, type ResourceLimits } from './cgroup';
export { isProcessRunning, liveGroupMembers } from './process-group';
export { ProcessRunnerError, isProcessRunnerError, type ProcessRunnerRefusal } from './errors';
