import { Module, type DynamicModule } from '@nestjs/common';
import { AdminController } from './admin.controller';
import { Authenticator } from './authenticator';
import { CommandSender } from './commands';
import { JobsController } from './jobs.controller';
import { JobsReadModel } from './jobs.read-model';
import { OpenApiController } from './openapi.controller';
import { GATEWAY_DEPENDENCIES, type GatewayDependencies } from './tokens';

@Module({})
export class GatewayModule {
  static register(deps: GatewayDependencies): DynamicModule {
    return {
      module: GatewayModule,
      controllers: [AdminController, JobsController, OpenApiController],
      providers: [
        { provide: GATEWAY_DEPENDENCIES, useValue: deps },
        { provide: JobsReadModel, useFactory: () => new JobsReadModel(deps.pool) },
        Authenticator,
        CommandSender,
      ],
    };
  }
}
