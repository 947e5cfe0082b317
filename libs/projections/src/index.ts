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
  CreateJobSummary1763910000001,
  CreateProjectionBookkeeping1763910000000,
  projectionMigrations,
} from './migrations';
