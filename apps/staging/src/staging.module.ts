import { Module, type DynamicModule } from '@nestjs/common';
import { FileCommandsController } from './file-commands.controller';
import { StagedFiles } from './staged-files.service';

@Module({})
export class StagingModule {
  static register(files: StagedFiles): DynamicModule {
    return {
      module: StagingModule,
      controllers: [FileCommandsController],
      providers: [{ provide: StagedFiles, useValue: files }],
    };
  }
}
