import { Module, type DynamicModule } from '@nestjs/common';
import {
  EnrolNodeController,
  JobEventsController,
  NodeEventsController,
  NodeStandingController,
} from './scheduler.controllers';
import { SchedulerEngine } from './scheduler.engine';

@Module({})
export class SchedulerModule {
  static register(engine: SchedulerEngine): DynamicModule {
    return {
      module: SchedulerModule,
      controllers: [
        EnrolNodeController,
        NodeStandingController,
        JobEventsController,
        NodeEventsController,
      ],
      providers: [{ provide: SchedulerEngine, useValue: engine }],
    };
  }
}
