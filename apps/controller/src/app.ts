import { randomUUID } from 'node:crypto';
import { type INestMicroservice, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type MicroserviceOptions } from '@nestjs/microservices';
import { type SubjectCatalogue } from '@gantry/contracts';
import {
  GantryRpcExceptionFilter,
  JetStreamServer,
  type NatsConnectionSource,
} from '@gantry/messaging';
import { ControllerModule, type ControllerDependencies } from './controller.module';

export interface ControllerAppOptions
  extends
    Omit<ControllerDependencies, 'clock' | 'random' | 'newJobId'>,
    Partial<Pick<ControllerDependencies, 'clock' | 'random' | 'newJobId'>> {
  readonly nats: NatsConnectionSource;
  readonly subjects: SubjectCatalogue;
  readonly logger?: LoggerService | LogLevel[] | false;
}

/** The controller as a listening Nest microservice: what main.ts runs and the int tests start. */
export const startControllerApp = async (
  options: ControllerAppOptions,
): Promise<INestMicroservice> => {
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(
    ControllerModule.register({
      store: options.store,
      clock: options.clock ?? (() => new Date()),
      random: options.random ?? Math.random,
      newJobId: options.newJobId ?? randomUUID,
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    }),
    {
      strategy: new JetStreamServer({
        nats: options.nats,
        subjects: options.subjects,
        service: 'controller',
      }),
      logger: options.logger ?? ['log', 'warn', 'error'],
    },
  );
  // Keeps each refusal's code and retryable flag on the way back to the sender.
  app.useGlobalFilters(new GantryRpcExceptionFilter());
  await app.listen();
  return app;
};
