import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { type CommandEnvelope, type EventEnvelope } from '@gantry/contracts';
import { defineConsumer, OnCommand, OnEvent } from '@gantry/messaging';
import { JobAdmissionService, type SubmitReply } from './job-admission.service';

/**
 * The jobs' terminal facts, for releasing their reservations. Durable, so a release missed while
 * admission was down happens when it is back; releases are idempotent, so redelivery is harmless.
 * JobRejected is not among them: a rejected job never held anything.
 */
export const CAPACITY_RELEASE_CONSUMER = defineConsumer({
  durableName: 'admission-capacity-release',
  stream: 'events',
  filterSubjects: (subjects) => [subjects.eventsOfAggregate('job')],
  ackWaitMs: 30_000,
  maxDeliver: 20,
  description: 'admission: releases a job’s quota reservation when the job ends',
});

/** `<ns>.cmd.admission.submit` and the release of what ended jobs held. Thin: see the service. */
@Controller()
export class JobAdmissionController {
  constructor(@Inject(JobAdmissionService) private readonly admission: JobAdmissionService) {}

  @OnCommand('submit')
  submit(@Payload() command: CommandEnvelope): Promise<SubmitReply> {
    return this.admission.submit(command);
  }

  @OnEvent('JobSucceeded')
  onSucceeded(@Payload() event: EventEnvelope): Promise<void> {
    return this.admission.release(event);
  }

  @OnEvent('JobFailed')
  onFailed(@Payload() event: EventEnvelope): Promise<void> {
    return this.admission.release(event);
  }

  @OnEvent('JobDeadLettered')
  onDeadLettered(@Payload() event: EventEnvelope): Promise<void> {
    return this.admission.release(event);
  }

  @OnEvent('JobCancelled')
  onCancelled(@Payload() event: EventEnvelope): Promise<void> {
    return this.admission.release(event);
  }
}
