import { Module, type DynamicModule } from '@nestjs/common';
import { AdminController } from './admin.controller';
import { AdminNodesController } from './admin-nodes.controller';
import { Authenticator } from './authenticator';
import { CommandSender } from './commands';
import { FilesController } from './files.controller';
import { JobOutputsController } from './job-outputs.controller';
import { JobsController } from './jobs.controller';
import { JobsReadModel } from './jobs.read-model';
import { LogsController } from './logs.controller';
import { LogsReadModel } from './logs.read-model';
import { NodePoolsController } from './nodepools.controller';
import { NodePoolsReadModel } from './nodepools.read-model';
import { UsageController } from './usage.controller';
import { UsageReadModel } from './usage.read-model';
import { OpenApiController } from './openapi.controller';
import { GATEWAY_DEPENDENCIES, type GatewayDependencies } from './tokens';

@Module({})
export class GatewayModule {
  static register(deps: GatewayDependencies): DynamicModule {
    return {
      module: GatewayModule,
      controllers: [
        AdminController,
        AdminNodesController,
        JobsController,
        JobOutputsController,
        LogsController,
        FilesController,
        NodePoolsController,
        UsageController,
        OpenApiController,
      ],
      providers: [
        { provide: GATEWAY_DEPENDENCIES, useValue: deps },
        { provide: JobsReadModel, useFactory: () => new JobsReadModel(deps.pool) },
        { provide: LogsReadModel, useFactory: () => new LogsReadModel(deps.pool) },
        { provide: NodePoolsReadModel, useFactory: () => new NodePoolsReadModel(deps.pool) },
        { provide: UsageReadModel, useFactory: () => new UsageReadModel(deps.pool) },
        Authenticator,
        CommandSender,
      ],
    };
  }
}
