import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { type CommandEnvelope } from '@gantry/contracts';
import { OnCommand } from '@gantry/messaging';
import { JOB_COMMAND_VERBS, type JobReply } from './job-commands';
import { JobCommandsService } from './job-commands.service';

/**
 * `<ns>.cmd.controller.<verb>`: one thin handler per job command (CONVENTIONS.md #7). The
 * transport has already decoded the envelope; the service parses the command, decides and
 * appends; errors travel back with their code through GantryRpcExceptionFilter.
 */
@Controller()
export class JobCommandsController {
  constructor(@Inject(JobCommandsService) private readonly jobs: JobCommandsService) {}

  @OnCommand('submit')
  submit(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['submit'], command);
  }

  @OnCommand('admit')
  admit(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['admit'], command);
  }

  @OnCommand('reject')
  reject(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['reject'], command);
  }

  @OnCommand('block')
  block(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['block'], command);
  }

  @OnCommand('queue')
  queue(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['queue'], command);
  }

  @OnCommand('hold')
  hold(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['hold'], command);
  }

  @OnCommand('release')
  release(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['release'], command);
  }

  @OnCommand('cancel')
  cancel(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['cancel'], command);
  }

  @OnCommand('lease')
  lease(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['lease'], command);
  }

  @OnCommand('start-staging')
  startStaging(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['start-staging'], command);
  }

  @OnCommand('start-attempt')
  startAttempt(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['start-attempt'], command);
  }

  @OnCommand('report-attempt-exit')
  reportAttemptExit(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['report-attempt-exit'], command);
  }

  @OnCommand('report-progress')
  reportProgress(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['report-progress'], command);
  }

  @OnCommand('report-checkpoint')
  reportCheckpoint(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['report-checkpoint'], command);
  }

  @OnCommand('report-node-lost')
  reportNodeLost(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['report-node-lost'], command);
  }

  @OnCommand('expire-lease')
  expireLease(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['expire-lease'], command);
  }

  @OnCommand('preempt')
  preempt(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['preempt'], command);
  }

  @OnCommand('record-step-submitted')
  recordStepSubmitted(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['record-step-submitted'], command);
  }

  @OnCommand('record-step-outcome')
  recordStepOutcome(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['record-step-outcome'], command);
  }

  @OnCommand('retry-steps')
  retrySteps(@Payload() command: CommandEnvelope): Promise<JobReply> {
    return this.jobs.execute(JOB_COMMAND_VERBS['retry-steps'], command);
  }
}
