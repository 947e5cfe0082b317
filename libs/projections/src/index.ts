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
