import { Module, type DynamicModule } from '@nestjs/common';
import { AlertsService } from './alerts.service';
import { BudgetWatchService } from './budget-watch.service';
import { UsageReconcilerService } from './usage-reconciler.service';
import { JobAdmissionController } from './job-admission.controller';
import {
  JOB_ADMISSION_DEPENDENCIES,
  JobAdmissionService,
  type JobAdmissionDependencies,
} from './job-admission.service';
import { PriceBookService } from './price-book.service';
import { StepRunnerService } from './step-runner.service';
import { TenantCommandsController } from './tenant-commands.controller';
import {
  ADMISSION_DEPENDENCIES,
  TenantCommandsService,
  type AdmissionDependencies,
} from './tenant-commands.service';

@Module({})
export class AdmissionModule {
  static register(deps: AdmissionDependencies, jobs: JobAdmissionDependencies): DynamicModule {
    return {
      module: AdmissionModule,
      controllers: [TenantCommandsController, JobAdmissionController],
      providers: [
        { provide: ADMISSION_DEPENDENCIES, useValue: deps },
        TenantCommandsService,
        PriceBookService,
        { provide: JOB_ADMISSION_DEPENDENCIES, useValue: jobs },
        JobAdmissionService,
        StepRunnerService,
        BudgetWatchService,
        AlertsService,
        UsageReconcilerService,
      ],
    };
  }
}
