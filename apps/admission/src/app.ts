import { randomBytes } from 'node:crypto';
import { type INestMicroservice, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type MicroserviceOptions } from '@nestjs/microservices';
import { type SubjectCatalogue } from '@gantry/contracts';
import {
  GantryRpcExceptionFilter,
  JetStreamServer,
  type NatsConnectionSource,
} from '@gantry/messaging';
import { AdmissionModule } from './admission.module';
import { type AdmissionDependencies } from './tenant-commands.service';

export interface AdmissionAppOptions
  extends
    Omit<AdmissionDependencies, 'clock' | 'randomBytes'>,
    Partial<Pick<AdmissionDependencies, 'clock' | 'randomBytes'>> {
  readonly nats: NatsConnectionSource;
  readonly subjects: SubjectCatalogue;
  readonly logger?: LoggerService | LogLevel[] | false;
}

/** Admission as a listening Nest microservice: what main.ts runs and the int tests start. */
export const startAdmissionApp = async (
  options: AdmissionAppOptions,
): Promise<INestMicroservice> => {
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(
    AdmissionModule.register({
      store: options.store,
      clock: options.clock ?? (() => new Date()),
      randomBytes: options.randomBytes ?? ((size) => randomBytes(size)),
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    }),
    {
      strategy: new JetStreamServer({
        nats: options.nats,
        subjects: options.subjects,
        service: 'admission',
      }),
      logger: options.logger ?? ['log', 'warn', 'error'],
    },
  );
  // Keeps each refusal's code and retryable flag on the way back to the sender.
  app.useGlobalFilters(new GantryRpcExceptionFilter());
  await app.listen();
  return app;
};
