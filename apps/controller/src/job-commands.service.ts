import { Inject, Injectable } from '@nestjs/common';
import { streamIdOf, type CommandEnvelope, type JobCommandType } from '@gantry/contracts';
import { CommandProcessor, commandContextOf } from '@gantry/event-store';
import { jobDecider, parseJobCommand, type JobReply } from './job-commands';
import { submittedJobId } from './job-id';

export const NEW_JOB_ID = Symbol('NEW_JOB_ID');

/** The one path every job command takes: parse, pick the job's stream, decide and append. */
@Injectable()
export class JobCommandsService {
  constructor(
    @Inject(CommandProcessor) private readonly processor: CommandProcessor,
    @Inject(NEW_JOB_ID) private readonly newJobId: () => string,
  ) {}

  async execute(type: JobCommandType, envelope: CommandEnvelope): Promise<JobReply> {
    const command = parseJobCommand(type, envelope);
    const { tenant } = envelope.metadata;
    const jobId =
      command.type === 'SubmitJob'
        ? submittedJobId(tenant, command.data.idempotencyKey, this.newJobId)
        : command.data.jobId;
    const { state, version } = await this.processor.handle(
      jobDecider({ tenant, jobId }),
      streamIdOf('job', jobId),
      command,
      commandContextOf(envelope),
    );
    return { jobId, state: state.state, version };
  }
}
