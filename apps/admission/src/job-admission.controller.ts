import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { type CommandEnvelope, type EventEnvelope } from '@gantry/contracts';
import { defineConsumer, OnCommand, OnEvent } from '@gantry/messaging';
import {
  JobAdmissionService,
  type DryRunReply,
  type BytesReply,
  type SubmitReply,
} from './job-admission.service';
import { StepRunnerService } from './step-runner.service';

/**
 * The jobs' terminal facts, for releasing their reservations. Durable, so a release missed while
 * admission was down happens when it is back; releases are idempotent, so redelivery is harmless.
 * JobRejected is not among them: a rejected job never held anything. One consumer per fact, each
 * filtered on its event type (nats-server 2.9 takes one filter per consumer): admission then reads
 * one event per job instead of every event of every job.
 */
export const RELEASING_EVENTS = [
  'JobSucceeded',
  'JobFailed',
  'JobDeadLettered',
  'JobCancelled',
  // D5: a fan-out ends the job's own work (its nodes are free), and a job with steps ends with
  // StepsSucceeded or StepsFailed; neither holds a reservation then, but a job they are a step of
  // must hear of it.
  'JobFannedOut',
  'StepsSucceeded',
  'StepsFailed',
];
export const CAPACITY_RELEASE_CONSUMERS = RELEASING_EVENTS.map((eventType) =>
  defineConsumer({
    durableName: `admission-release-${eventType}`,
    stream: 'events',
    filterSubjects: (subjects) => [subjects.eventsOfType('job', eventType)],
    ackWaitMs: 30_000,
    maxDeliver: 20,
    description: `admission: releases a job's quota reservation on ${eventType} (and tells a step's job)`,
  }),
);

/** The facts after which a job with steps may start some (D5): durable, as the releases are. */
export const STEP_TRIGGER_EVENTS = ['JobBlocked', 'JobReleased', 'StepsRetried'];
export const STEP_TRIGGER_CONSUMERS = STEP_TRIGGER_EVENTS.map((eventType) =>
  defineConsumer({
    durableName: `admission-steps-${eventType}`,
    stream: 'events',
    filterSubjects: (subjects) => [subjects.eventsOfType('job', eventType)],
    ackWaitMs: 30_000,
    maxDeliver: 20,
    description: `admission: starts the ready steps of a job with steps on ${eventType}`,
  }),
);

/** `<ns>.cmd.admission.submit` and the release of what ended jobs held. Thin: see the service. */
@Controller()
export class JobAdmissionController {
  constructor(
    @Inject(JobAdmissionService) private readonly admission: JobAdmissionService,
    @Inject(StepRunnerService) private readonly steps: StepRunnerService,
  ) {}

  @OnCommand('submit')
  submit(@Payload() command: CommandEnvelope): Promise<SubmitReply> {
    return this.admission.submit(command);
  }

  @OnCommand('dry-run')
  dryRun(@Payload() command: CommandEnvelope): Promise<DryRunReply> {
    return this.admission.dryRun(command);
  }

  /** B1: bytes a tenant stores, uploads or downloads, charged by staging and the gateway. */
  @OnCommand('charge-storage')
  chargeStorage(@Payload() command: CommandEnvelope): Promise<BytesReply> {
    return this.admission.chargeBytes('ChargeStorage', command);
  }

  @OnCommand('release-storage')
  releaseStorage(@Payload() command: CommandEnvelope): Promise<BytesReply> {
    return this.admission.chargeBytes('ReleaseStorage', command);
  }

  @OnCommand('charge-egress')
  chargeEgress(@Payload() command: CommandEnvelope): Promise<BytesReply> {
    return this.admission.chargeBytes('ChargeEgress', command);
  }

  @OnEvent('JobSucceeded')
  onSucceeded(@Payload() event: EventEnvelope): Promise<void> {
    return this.ended(event);
  }

  @OnEvent('JobFailed')
  onFailed(@Payload() event: EventEnvelope): Promise<void> {
    return this.ended(event);
  }

  @OnEvent('JobDeadLettered')
  onDeadLettered(@Payload() event: EventEnvelope): Promise<void> {
    return this.ended(event);
  }

  @OnEvent('JobCancelled')
  onCancelled(@Payload() event: EventEnvelope): Promise<void> {
    return this.ended(event);
  }

  @OnEvent('JobFannedOut')
  onFannedOut(@Payload() event: EventEnvelope): Promise<void> {
    return this.ended(event);
  }

  @OnEvent('StepsSucceeded')
  onStepsSucceeded(@Payload() event: EventEnvelope): Promise<void> {
    return this.ended(event);
  }

  @OnEvent('StepsFailed')
  onStepsFailed(@Payload() event: EventEnvelope): Promise<void> {
    return this.ended(event);
  }

  @OnEvent('JobBlocked')
  onBlocked(@Payload() event: EventEnvelope): Promise<void> {
    return this.steps.onJobFact(event);
  }

  @OnEvent('JobReleased')
  onReleased(@Payload() event: EventEnvelope): Promise<void> {
    return this.steps.onJobFact(event);
  }

  @OnEvent('StepsRetried')
  onStepsRetried(@Payload() event: EventEnvelope): Promise<void> {
    return this.steps.onJobFact(event);
  }

  private async ended(event: EventEnvelope): Promise<void> {
    const history = await this.admission.release(event);
    await this.steps.onJobEnded(event, history);
  }
}
