import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import {
  type CommandEnvelope,
  type CreateFileReply,
  type ResolveInputsReply,
} from '@gantry/contracts';
import { OnCommand } from '@gantry/messaging';
import { StagedFiles } from './staged-files.service';

/** `<ns>.cmd.staging.<verb>`: thin handlers; refusals travel back with their code. */
@Controller()
export class FileCommandsController {
  constructor(@Inject(StagedFiles) private readonly files: StagedFiles) {}

  @OnCommand('create-file')
  createFile(@Payload() command: CommandEnvelope): Promise<CreateFileReply> {
    return this.files.createFile(command);
  }

  /** An agent storing an attempt's output or checkpoint (D4, D7). */
  @OnCommand('create-attempt-file')
  createAttemptFile(@Payload() command: CommandEnvelope): Promise<CreateFileReply> {
    return this.files.createAttemptFile(command);
  }

  @OnCommand('resolve-inputs')
  resolveInputs(@Payload() command: CommandEnvelope): Promise<ResolveInputsReply> {
    return this.files.resolveInputs(command);
  }
}
