export type {
  ProjectionOp,
  ProjectionRow,
  ProjectionTable,
  ProjectionValue,
  UpdateOp,
  UpsertOp,
} from './projection-op';
export {
  classifyStreamVersion,
  readsStreamOf,
  type ProjectionDefinition,
  type StreamPosition,
} from './projection';
export {
  JOB_SUMMARY_TABLE,
  JOB_STEPS_TABLE,
  isJobEvent,
  jobSummaryProjection,
  projectJobSummary,
  type JobEventEnvelope,
  type JobSummaryState,
} from './job-summary/job-summary.projection';
export {
  PostgresProjectionSink,
  type ApplyResult,
  type ProjectionCheckpoint,
  type ProjectionCheckpointState,
  type StreamReader,
} from './postgres-projection.sink';
export { ProjectionRunner, type ProjectionRunnerOptions } from './projection.runner';
export {
  catchUpProjection,
  rebuildProjection,
  type AllEventsReader,
  type RebuildOptions,
  type RebuildResult,
} from './rebuild-projection';
export {
  API_KEYS_TABLE,
  TENANT_DIRECTORY_TABLE,
  TENANT_RESERVATIONS_TABLE,
  isTenantEvent,
  projectTenantDirectory,
  tenantDirectoryProjection,
  type TenantEventEnvelope,
} from './tenant-directory/tenant-directory.projection';
export {
  authenticateApiKey,
  type AuthenticatedKey,
  type KeyLookup,
} from './tenant-directory/authenticate-api-key';
export {
  CreateJobSummary1763910000001,
  CreateTenantDirectory1763910000003,
  CreateProjectionBookkeeping1763910000000,
  projectionMigrations,
} from './migrations';
export {
  STAGED_FILES_TABLE,
  STAGED_FILE_STATES,
  isFileEvent,
  projectStagedFiles,
  stagedFilesProjection,
  type FileEventEnvelope,
  type StagedFileState,
} from './files/staged-files.projection';
export {
  CreateStagedFiles1763910000300,
  stagedFilesMigrations,
} from './files/staged-files.migration';
export { readStagedFile, type StagedFileView } from './files/staged-files.read';
export {
  CreateSchedulerEstimates1765100000100,
  pruneStartEstimates,
  readEstimateAccuracy,
  readStartEstimate,
  recordActualStart,
  upsertStartEstimates,
  type EstimateAccuracy,
  type StartEstimate,
} from './nodes/scheduler-estimates';
export {
  AddSchedulerNodeStanding1765100000000,
  CreateSchedulerNodes1763910000200,
  NO_STANDING_FLAGS,
  SCHEDULER_NODES_TABLE,
  readSchedulerNodes,
  schedulerNodesMigrations,
  upsertSchedulerNodes,
  type NodeResources,
  type Queryable,
  type SchedulerNodeRow,
  type NodeStandingFlags,
  type SchedulerNodeStatus,
} from './nodes/scheduler-nodes';
export * from './logs';
export {
  ALERTS_TABLE,
  alertsProjection,
  projectAlerts,
  readAlerts,
  type AlertView,
} from './alerts/alerts.projection';
