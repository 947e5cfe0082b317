import {
  jobEventDefinitions,
  type DomainEvent,
  type EventEnvelope,
  type JobEvent,
} from '@gantry/contracts';
import { type ProjectionOp, type ProjectionTable } from '../projection-op';
import { type ProjectionDefinition } from '../projection';

/**
 * job_summary: one row per job, what the gateway answers "get" and "list" from. It is the first
 * read model; the lifecycle issue adds the states after ADMITTED (FEATURES.md D1) by adding cases
 * here, which the exhaustiveness check below forces.
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
    'last_version',
  ],
  versionColumn: 'last_version',
};

/** D1's names; REJECTED is the admission refusal, which D1's machine never reaches. */
export type JobSummaryState = 'PENDING' | 'ADMITTED' | 'REJECTED' | 'CANCELLED';

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

export const projectJobSummary = (event: EventEnvelope): ProjectionOp[] => {
  if (!isJobEvent(event)) return [];
  const { tenant, streamVersion: version, occurredAt } = event.metadata;
  const key = { tenant, job_id: event.data.jobId };
  const table = JOB_SUMMARY_TABLE.name;
  switch (event.type) {
    case 'JobSubmitted': {
      const { spec } = event.data;
      return [
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
            // Times come from the event, never the clock, so a rebuild writes the same row.
            submitted_at: occurredAt,
            updated_at: occurredAt,
          },
        },
      ];
    }
    case 'JobAdmitted':
      return [
        {
          kind: 'update',
          table,
          key,
          version,
          set: { state: state('ADMITTED'), updated_at: occurredAt },
        },
      ];
    case 'JobRejected':
      return [
        {
          kind: 'update',
          table,
          key,
          version,
          set: {
            state: state('REJECTED'),
            reason_code: event.data.code,
            reason: event.data.reason,
            updated_at: occurredAt,
          },
        },
      ];
    case 'JobCancelled':
      return [
        {
          kind: 'update',
          table,
          key,
          version,
          set: { state: state('CANCELLED'), reason: event.data.reason, updated_at: occurredAt },
        },
      ];
    default: {
      const unhandled: never = event;
      throw new Error(`job_summary has no case for ${(unhandled as EventEnvelope).type}`);
    }
  }
};

export const jobSummaryProjection: ProjectionDefinition = {
  name: 'job_summary',
  aggregates: ['job'],
  tables: [JOB_SUMMARY_TABLE],
  project: projectJobSummary,
};
