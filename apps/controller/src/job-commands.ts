import {
  commandRegistry,
  ErrorCodes,
  GantryError,
  SYSTEM_TENANT,
  type CommandEnvelope,
  type JobCommand,
  type JobCommandType,
  type JobEvent,
} from '@gantry/contracts';
import {
  decide,
  evolve,
  initialJobState,
  type DecisionFacts,
  type JobIdentity,
  type JobState,
} from '@gantry/domain';
import { type Decider } from '@gantry/event-store';

/**
 * The controller's command verbs (`<ns>.cmd.controller.<verb>`) and the job command each one
 * carries. One table, so the subjects, the handlers and the tests cannot drift apart.
 */
export const JOB_COMMAND_VERBS = {
  submit: 'SubmitJob',
  admit: 'AdmitJob',
  reject: 'RejectJob',
  block: 'BlockJob',
  queue: 'QueueJob',
  hold: 'HoldJob',
  release: 'ReleaseJob',
  cancel: 'CancelJob',
  lease: 'LeaseJob',
  'start-staging': 'StartStaging',
  'start-attempt': 'StartAttempt',
  'report-attempt-exit': 'ReportAttemptExit',
  'report-progress': 'ReportProgress',
  'report-checkpoint': 'ReportCheckpoint',
  'report-node-lost': 'ReportNodeLost',
  'expire-lease': 'ExpireLease',
  preempt: 'PreemptAttempt',
  'record-step-submitted': 'RecordStepSubmitted',
  'record-step-outcome': 'RecordStepOutcome',
  'retry-steps': 'RetrySteps',
} as const satisfies Record<string, JobCommandType>;
export type JobCommandVerb = keyof typeof JOB_COMMAND_VERBS;

/** A checkpoint as the agent starting an attempt needs it: what to fetch and what it must be. */
export interface CheckpointRef {
  readonly name: string;
  readonly ref: string;
  readonly size: number;
  readonly sha256: string;
  readonly attempt: number;
}

/**
 * What every controller command answers. StartAttempt's answer also carries the job's last
 * checkpoint (D7): the agent learns it at the moment it is about to run the attempt, with no
 * second question that could see another state.
 */
export interface JobReply {
  readonly jobId: string;
  readonly state: JobState['state'];
  readonly version: number;
  readonly checkpoint?: CheckpointRef | null;
}

export const replyOf = (
  command: JobCommand,
  jobId: string,
  state: JobState,
  version: number,
): JobReply =>
  command.type === 'StartAttempt' && state.state !== 'NONE'
    ? { jobId, state: state.state, version, checkpoint: state.checkpoint }
    : { jobId, state: state.state, version };

/**
 * The envelope's data checked against the command's schema (the transport already did, but a
 * handler does not trust what it did not parse), and the envelope's type against the verb it
 * came on: a CancelJob sent to `admit` is a mistake, not a cancel.
 */
export const parseJobCommand = (
  expected: JobCommandType,
  envelope: CommandEnvelope,
): JobCommand => {
  if (envelope.type !== expected) {
    throw new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      `this subject takes ${expected} commands, not ${envelope.type}`,
      { details: { expected, type: envelope.type } },
    );
  }
  if (expected === 'SubmitJob' && envelope.metadata.tenant === SYSTEM_TENANT) {
    throw new GantryError(ErrorCodes.VALIDATION_FAILED, 'a job is submitted by a tenant', {
      details: { tenant: envelope.metadata.tenant },
    });
  }
  const data = commandRegistry.validateData(expected, envelope.data);
  const command = { type: expected, data } as JobCommand;
  // CancelJob v1 senders may leave `requestedBy` out (job.commands.ts): who asked is the actor.
  if (command.type === 'CancelJob' && command.data.requestedBy === undefined) {
    return {
      type: 'CancelJob',
      data: { ...command.data, requestedBy: envelope.metadata.actor ?? 'unknown' },
    };
  }
  return command;
};

/** The job aggregate of @gantry/domain, for one job's stream, with the facts its command needs. */
export const jobDecider = (
  identity: JobIdentity,
  facts: DecisionFacts = {},
): Decider<JobState, JobCommand, JobEvent> => ({
  initialState: () => initialJobState(identity),
  evolve,
  decide: (state, command, now) => decide(state, command, now, facts),
});
