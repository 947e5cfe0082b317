import { Module, type DynamicModule } from '@nestjs/common';
import { TenantCommandsController } from './tenant-commands.controller';
import {
  ADMISSION_DEPENDENCIES,
  TenantCommandsService,
  type AdmissionDependencies,
} from './tenant-commands.service';

@Module({})
export class AdmissionModule {
  static register(deps: AdmissionDependencies): DynamicModule {
    return {
      module: AdmissionModule,
      controllers: [TenantCommandsController],
      providers: [{ provide: ADMISSION_DEPENDENCIES, useValue: deps }, TenantCommandsService],
    };
  }
}
