import {
  jobEventDefinitions,
  type DomainEvent,
  type EventEnvelope,
  type JobEvent,
} from '@gantry/contracts';
import { type JobLifecycleState } from '@gantry/domain';
import { type ProjectionOp, type ProjectionRow, type ProjectionTable } from '../projection-op';
import { type ProjectionDefinition } from '../projection';

/**
 * job_summary: one row per job, what the gateway answers "get" and "list" from: the D1 state,
 * the attempt, the gang the current lease locks (nodes with ranks), the last attempt's exit code
 * per rank, the lifecycle's timestamps and the reason of the last failure or refusal. Every job
 * event has a case below; the exhaustiveness check forces one for each event added.
 *
 * The projector sees one event at a time, so every value it writes comes from that event: where
 * a column depends on earlier history (a release returns to the state the hold found), the event
 * itself says so.
 */
export const JOB_SUMMARY_TABLE: ProjectionTable = {
  name: 'job_summary',
  key: ['tenant', 'job_id'],
  columns: [
    'tenant',
    'job_id',
    'state',
    'name',
    'nodes',
    'pool',
    'priority',
    'reason_code',
    'reason',
    'submitted_at',
    'updated_at',
    'attempt',
    'lease_epoch',
    'assigned_nodes',
    'exit_codes',
    'cancel_requested',
    'not_before',
    'admitted_at',
    'queued_at',
    'started_at',
    'finished_at',
    'outputs',
    'progress',
    'checkpoint',
    'run',
    'parent_job_id',
    'parent_step',
    'parent_run',
    'last_version',
  ],
  versionColumn: 'last_version',
};

/** job_steps: a job with steps' steps (D5), one row each, in the spec's order by `position`. */
export const JOB_STEPS_TABLE: ProjectionTable = {
  name: 'job_steps',
  key: ['tenant', 'job_id', 'step'],
  columns: [
    'tenant',
    'job_id',
    'step',
    'position',
    'depends_on',
    'state',
    'run',
    'child_job_id',
    'outputs',
    'reason',
    'updated_at',
    'last_version',
  ],
  versionColumn: 'last_version',
};

/** D1's names, plus REJECTED, admission's refusal; the job aggregate defines them. */
export type JobSummaryState = JobLifecycleState;

type EnvelopeOf<E> =
  E extends DomainEvent<infer TType, infer TData> ? EventEnvelope<TType, TData> : never;
export type JobEventEnvelope = EnvelopeOf<JobEvent>;

const JOB_EVENT_TYPES: ReadonlySet<string> = new Set(jobEventDefinitions.map((d) => d.type));

/**
 * Narrows by type only: envelopes reach a projector through the registry (the consumer parses
 * and upcasts what comes off the bus; the store upcasts on read), so the data already has the
 * current schema's shape and validating it again per row would buy nothing.
 */
export const isJobEvent = (event: EventEnvelope): event is JobEventEnvelope =>
  JOB_EVENT_TYPES.has(event.type);

const state = (value: JobSummaryState): JobSummaryState => value;

/** jsonb columns travel as JSON text; Postgres parses it into the column's type. */
const json = (value: unknown): string => JSON.stringify(value);

export const projectJobSummary = (event: EventEnvelope): ProjectionOp[] => {
  if (!isJobEvent(event)) return [];
  const { tenant, streamVersion: version, occurredAt } = event.metadata;
  const key = { tenant, job_id: event.data.jobId };
  const table = JOB_SUMMARY_TABLE.name;
  // Times come from the event, never the clock, so a rebuild writes the same row.
  const update = (set: ProjectionRow): ProjectionOp[] => [
    { kind: 'update', table, key, version, set: { ...set, updated_at: occurredAt } },
  ];
  const updateStep = (step: string, set: ProjectionRow): ProjectionOp => ({
    kind: 'update',
    table: JOB_STEPS_TABLE.name,
    key: { ...key, step },
    version,
    set: { ...set, updated_at: occurredAt },
  });
  /** A fact about one step: its row changes, and the job's row moves to the stream's version. */
  const stepFact = (
    data: { readonly step: string; readonly run: number },
    set: ProjectionRow,
  ): ProjectionOp[] => [
    ...update({}),
    updateStep(data.step, { ...set, run: data.run, reason: set['reason'] ?? null }),
  ];
  switch (event.type) {
    case 'JobSubmitted': {
      const { spec, parent } = event.data;
      const steps: ProjectionOp[] = spec.steps.map((step, position) => ({
        kind: 'upsert',
        table: JOB_STEPS_TABLE.name,
        key: { ...key, step: step.name },
        version,
        values: {
          position,
          depends_on: json(step.dependsOn),
          state: 'WAITING',
          run: 1,
          child_job_id: null,
          outputs: json([]),
          reason: null,
          updated_at: occurredAt,
        },
      }));
      return [
        ...steps,
        {
          kind: 'upsert',
          table,
          key,
          version,
          values: {
            state: state('PENDING'),
            name: spec.name ?? null,
            nodes: spec.nodes,
            pool: spec.pool,
            priority: spec.priority,
            reason_code: null,
            reason: null,
            submitted_at: occurredAt,
            updated_at: occurredAt,
            attempt: 0,
            lease_epoch: 0,
            assigned_nodes: json([]),
            exit_codes: json([]),
            cancel_requested: false,
            not_before: null,
            admitted_at: null,
            queued_at: null,
            started_at: null,
            finished_at: null,
            outputs: json([]),
            progress: null,
            checkpoint: null,
            run: spec.steps.length > 0 ? 1 : 0,
            parent_job_id: parent?.jobId ?? null,
            parent_step: parent?.step ?? null,
            parent_run: parent?.run ?? null,
          },
        },
      ];
    }
    case 'JobAdmitted':
      return update({ state: state('ADMITTED'), admitted_at: event.data.admittedAt });
    case 'JobRejected':
      return update({
        state: state('REJECTED'),
        reason_code: event.data.code,
        reason: event.data.reason,
        finished_at: event.data.rejectedAt ?? occurredAt,
      });
    case 'JobBlocked':
      return update({ state: state('BLOCKED') });
    case 'JobQueued':
      return update({ state: state('QUEUED'), queued_at: event.data.queuedAt });
    case 'JobHeld':
      return update(
        event.data.reason === ''
          ? { state: state('HELD') }
          : { state: state('HELD'), reason: event.data.reason },
      );
    case 'JobReleased':
      return update({ state: state(event.data.releasedTo) });
    case 'JobLeased':
      return update({
        state: state('LEASED'),
        attempt: event.data.attempt,
        lease_epoch: event.data.leaseEpoch,
        assigned_nodes: json([...event.data.nodes].sort((a, b) => a.rank - b.rank)),
        exit_codes: json(event.data.nodes.map(() => null)),
        not_before: null,
        progress: null,
      });
    case 'JobStagingStarted':
      return update({ state: state('STAGING') });
    case 'JobStarted':
      return update({ state: state('RUNNING'), started_at: event.data.startedAt });
    // A rank's exit alone decides nothing; the attempt's outcome carries every rank's code.
    case 'RankExited':
      return update({});
    case 'OutputsCommitted':
      return update({
        outputs: json(event.data.outputs.map((o) => ({ ...o, attempt: event.data.attempt }))),
      });
    case 'JobProgressed':
      return update({ progress: event.data.progress });
    case 'JobCheckpointed':
      return update({
        checkpoint: json({
          ...event.data.checkpoint,
          attempt: event.data.attempt,
          at: event.data.checkpointedAt,
        }),
      });
    case 'LeaseExpired':
      return update({
        reason: `attempt ${event.data.attempt}: lease ${event.data.leaseEpoch} expired`,
      });
    case 'AttemptFailed':
      return update({ reason: event.data.reason, exit_codes: json(event.data.exitCodes) });
    case 'JobRetryScheduled':
      return update({
        state: state('QUEUED'),
        assigned_nodes: json([]),
        not_before: event.data.notBefore,
        queued_at: event.data.scheduledAt,
      });
    case 'JobSucceeded':
      return update({
        state: state('SUCCEEDED'),
        exit_codes: json(event.data.exitCodes),
        reason: null,
        finished_at: event.data.succeededAt,
      });
    case 'JobFailed':
      return update({
        state: state('FAILED'),
        reason: event.data.reason,
        finished_at: event.data.failedAt,
      });
    case 'JobDeadLettered':
      return update({
        state: state('DEAD_LETTER'),
        reason: event.data.reason,
        finished_at: event.data.deadLetteredAt,
      });
    case 'JobCancelRequested':
      return update({ cancel_requested: true });
    // The ranks are stopping: the job is still where it was until they have (C6).
    case 'AttemptPreemptionRequested':
      return update({});
    case 'AttemptPreempted':
      return update({
        state: state('QUEUED'),
        assigned_nodes: json([]),
        exit_codes: json(event.data.exitCodes),
        not_before: null,
        queued_at: event.data.preemptedAt,
        reason: `attempt ${event.data.attempt}: ${event.data.reason}`,
      });
    case 'JobCancelled':
      return update({
        state: state('CANCELLED'),
        reason: event.data.reason,
        finished_at: event.data.cancelledAt ?? occurredAt,
      });
    case 'StepSubmitted':
      return stepFact(event.data, { state: 'SUBMITTED', child_job_id: event.data.childJobId });
    case 'StepSucceeded':
      return stepFact(event.data, {
        state: 'SUCCEEDED',
        child_job_id: event.data.childJobId,
        outputs: json(event.data.outputs),
      });
    case 'StepFailed':
      return stepFact(event.data, {
        state: 'FAILED',
        child_job_id: event.data.childJobId,
        reason: event.data.reason,
      });
    case 'StepSkipped':
      return stepFact(event.data, {
        state: 'SKIPPED',
        child_job_id: null,
        reason: event.data.reason,
      });
    case 'StepsRetried':
      return [
        ...update({
          state: state('BLOCKED'),
          run: event.data.run,
          reason: null,
          finished_at: null,
        }),
        ...event.data.steps.map((step) =>
          updateStep(step, {
            state: 'WAITING',
            run: event.data.run,
            child_job_id: null,
            outputs: json([]),
            reason: null,
          }),
        ),
      ];
    case 'JobFannedOut':
      return [
        ...update({
          state: state('BLOCKED'),
          exit_codes: json(event.data.exitCodes),
          run: 1,
          reason: null,
        }),
        ...event.data.children.map((child, position): ProjectionOp => ({
          kind: 'upsert',
          table: JOB_STEPS_TABLE.name,
          key: { ...key, step: child.name },
          version,
          values: {
            position,
            depends_on: json([]),
            state: 'WAITING',
            run: 1,
            child_job_id: null,
            outputs: json([]),
            reason: null,
            updated_at: occurredAt,
          },
        })),
      ];
    case 'StepsSucceeded':
      return update({
        state: state('SUCCEEDED'),
        reason: null,
        finished_at: event.data.succeededAt,
      });
    case 'StepsFailed':
      return update({
        state: state('FAILED'),
        reason: event.data.reason,
        finished_at: event.data.failedAt,
      });
    default: {
      const unhandled: never = event;
      throw new Error(`job_summary has no case for ${(unhandled as EventEnvelope).type}`);
    }
  }
};

export const jobSummaryProjection: ProjectionDefinition = {
  name: 'job_summary',
  aggregates: ['job'],
  tables: [JOB_SUMMARY_TABLE, JOB_STEPS_TABLE],
  project: projectJobSummary,
};
