import { Inject, Injectable } from '@nestjs/common';
import { streamIdOf, type CommandEnvelope, type JobCommandType } from '@gantry/contracts';
import { CommandProcessor, commandContextOf } from '@gantry/event-store';
import { jobDecider, parseJobCommand, replyOf, type JobReply } from './job-commands';
import { submittedJobId } from './job-id';
import { factsFor, type StoredFilesLookup } from './stored-files';

export const NEW_JOB_ID = Symbol('NEW_JOB_ID');
export const STORED_FILES = Symbol('STORED_FILES');

/** The one path every job command takes: parse, pick the job's stream, decide and append. */
@Injectable()
export class JobCommandsService {
  constructor(
    @Inject(CommandProcessor) private readonly processor: CommandProcessor,
    @Inject(NEW_JOB_ID) private readonly newJobId: () => string,
    @Inject(STORED_FILES) private readonly storedFiles: StoredFilesLookup,
  ) {}

  async execute(type: JobCommandType, envelope: CommandEnvelope): Promise<JobReply> {
    const command = parseJobCommand(type, envelope);
    const { tenant } = envelope.metadata;
    const jobId =
      command.type === 'SubmitJob'
        ? submittedJobId(tenant, command.data.idempotencyKey, this.newJobId)
        : command.data.jobId;
    // Gathered before deciding, so the decision stays pure; stored files never change, so a
    // decision retried after a version conflict may reuse them.
    const facts = await factsFor(command, tenant, this.storedFiles);
    const { state, version } = await this.processor.handle(
      jobDecider({ tenant, jobId }, facts),
      streamIdOf('job', jobId),
      command,
      commandContextOf(envelope),
    );
    return replyOf(command, jobId, state, version);
  }
}
