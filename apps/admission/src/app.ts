import { randomBytes } from 'node:crypto';
import { type INestMicroservice, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type MicroserviceOptions } from '@nestjs/microservices';
import { type Pool } from 'pg';
import { type SubjectCatalogue } from '@gantry/contracts';
import { type PostgresEventStore } from '@gantry/event-store';
import {
  GantryRpcExceptionFilter,
  JetStreamServer,
  openConnection,
  type NatsConnectionSource,
} from '@gantry/messaging';
import { AdmissionModule } from './admission.module';
import { CAPACITY_RELEASE_CONSUMERS, STEP_TRIGGER_CONSUMERS } from './job-admission.controller';
import { type AdmissionDependencies } from './tenant-commands.service';

export interface AdmissionAppOptions
  extends
    Omit<AdmissionDependencies, 'clock' | 'randomBytes' | 'store'>,
    Partial<Pick<AdmissionDependencies, 'clock' | 'randomBytes'>> {
  readonly store: PostgresEventStore;
  readonly nats: NatsConnectionSource;
  readonly subjects: SubjectCatalogue;
  /** For the sweep that finishes admissions a crash interrupted; without it, no sweep. */
  readonly pool?: Pool;
  readonly recoveryIntervalMs?: number;
  readonly recoveryAgeMs?: number;
  readonly budgetWatchIntervalMs?: number;
  readonly reconcileIntervalMs?: number;
  readonly logger?: LoggerService | LogLevel[] | false;
}

/** Admission as a listening Nest microservice: what main.ts runs and the int tests start. */
export const startAdmissionApp = async (
  options: AdmissionAppOptions,
): Promise<INestMicroservice> => {
  const clock = options.clock ?? (() => new Date());
  const draw = options.randomBytes ?? ((size: number) => randomBytes(size));
  // One connection for the transport and for the commands admission sends to the controller.
  const { nc, owned } = await openConnection(options.nats);
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(
    AdmissionModule.register(
      {
        store: options.store,
        clock,
        randomBytes: draw,
        ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
      },
      {
        store: options.store,
        nc,
        subjects: options.subjects,
        clock,
        // Jitter between retries needs no cryptographic strength, only independence between racers.
        random: () => Buffer.from(draw(4)).readUInt32BE() / 2 ** 32,
        ownsConnection: owned,
        ...(options.pool === undefined ? {} : { pool: options.pool }),
        ...(options.recoveryIntervalMs === undefined
          ? {}
          : { recoveryIntervalMs: options.recoveryIntervalMs }),
        ...(options.recoveryAgeMs === undefined ? {} : { recoveryAgeMs: options.recoveryAgeMs }),
        ...(options.budgetWatchIntervalMs === undefined
          ? {}
          : { budgetWatchIntervalMs: options.budgetWatchIntervalMs }),
        ...(options.reconcileIntervalMs === undefined
          ? {}
          : { reconcileIntervalMs: options.reconcileIntervalMs }),
      },
    ),
    {
      strategy: new JetStreamServer({
        nats: nc,
        subjects: options.subjects,
        service: 'admission',
        consumers: [...CAPACITY_RELEASE_CONSUMERS, ...STEP_TRIGGER_CONSUMERS],
      }),
      logger: options.logger ?? ['log', 'warn', 'error'],
    },
  );
  // Keeps each refusal's code and retryable flag on the way back to the sender.
  app.useGlobalFilters(new GantryRpcExceptionFilter());
  await app.listen();
  return app;
};
