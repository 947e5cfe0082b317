import { randomUUID } from 'node:crypto';
import { type INestMicroservice, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type MicroserviceOptions } from '@nestjs/microservices';
import { type SubjectCatalogue } from '@gantry/contracts';
import {
  GantryRpcExceptionFilter,
  JetStreamServer,
  openConnection,
  type NatsConnectionSource,
} from '@gantry/messaging';
import { ControllerModule, type ControllerDependencies } from './controller.module';
import { OwnedConnection } from './owned-connection';
import { stagingStoredFiles } from './stored-files';

type Defaulted = 'clock' | 'random' | 'newJobId' | 'storedFiles';

export interface ControllerAppOptions
  extends
    Omit<ControllerDependencies, Defaulted>,
    Partial<Pick<ControllerDependencies, Defaulted>> {
  readonly nats: NatsConnectionSource;
  readonly subjects: SubjectCatalogue;
  readonly logger?: LoggerService | LogLevel[] | false;
}

/** The controller as a listening Nest microservice: what main.ts runs and the int tests start. */
export const startControllerApp = async (
  options: ControllerAppOptions,
): Promise<INestMicroservice> => {
  // One connection for the transport and for the controller's own questions to staging.
  const { nc, owned } = await openConnection(options.nats);
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(
    ControllerModule.register({
      store: options.store,
      clock: options.clock ?? (() => new Date()),
      random: options.random ?? Math.random,
      newJobId: options.newJobId ?? randomUUID,
      storedFiles: options.storedFiles ?? stagingStoredFiles(nc, options.subjects),
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    }),
    {
      strategy: new JetStreamServer({
        nats: nc,
        subjects: options.subjects,
        service: 'controller',
      }),
      logger: options.logger ?? ['log', 'warn', 'error'],
    },
  );
  // Keeps each refusal's code and retryable flag on the way back to the sender.
  app.useGlobalFilters(new GantryRpcExceptionFilter());
  if (owned) app.get(OwnedConnection).adopt(() => nc.drain());
  await app.listen();
  return app;
};
