import { type INestMicroservice, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type MicroserviceOptions } from '@nestjs/microservices';
import { type Pool } from 'pg';
import { type SubjectCatalogue } from '@gantry/contracts';
import { type PostgresEventStore } from '@gantry/event-store';
import {
  GantryRpcExceptionFilter,
  JetStreamServer,
  defineConsumer,
  openConnection,
  type NatsConnectionSource,
} from '@gantry/messaging';
import { type SchedulerConfig } from './config';
import { SchedulerEngine, type SchedulerLog } from './scheduler.engine';
import { SchedulerModule } from './scheduler.module';

export interface SchedulerAppOptions {
  readonly nats: NatsConnectionSource;
  readonly subjects: SubjectCatalogue;
  readonly store: PostgresEventStore;
  readonly pool: Pool;
  readonly databaseUrl: string;
  readonly config: SchedulerConfig;
  readonly clock?: () => Date;
  readonly random?: () => number;
  readonly log: SchedulerLog;
  readonly logger?: LoggerService | LogLevel[] | false;
}

export interface RunningScheduler {
  readonly app: INestMicroservice;
  readonly engine: SchedulerEngine;
  close(): Promise<void>;
}

/** Every job event, from the start of the stream; what the start-up load covered is skipped. */
export const schedulerJobEvents = (durableName: string) =>
  defineConsumer({
    durableName,
    stream: 'events',
    filterSubjects: (subjects) => [subjects.eventsOfAggregate('job')],
    ackWaitMs: 30_000,
    maxDeliver: 10,
    description: 'scheduler: queued jobs and leases',
  });

/**
 * Node events (C9): a cordon another replica decided must reach the leader. A consumer of its own,
 * `<durable>-nodes`: one filter subject each keeps to what nats-server before 2.10 accepts.
 */
export const schedulerNodeEvents = (durableName: string) =>
  defineConsumer({
    durableName: `${durableName}-nodes`,
    stream: 'events',
    filterSubjects: (subjects) => [subjects.eventsOfAggregate('node')],
    ackWaitMs: 30_000,
    maxDeliver: 10,
    description: "scheduler: nodes' standing",
  });

/** The scheduler as a listening Nest microservice plus its loops: what main.ts and the int tests start. */
export const startSchedulerApp = async (
  options: SchedulerAppOptions,
): Promise<RunningScheduler> => {
  const engine = new SchedulerEngine({
    config: options.config,
    subjects: options.subjects,
    store: options.store,
    pool: options.pool,
    databaseUrl: options.databaseUrl,
    clock: options.clock ?? (() => new Date()),
    random: options.random ?? Math.random,
    log: options.log,
  });
  const loaded = await engine.load();
  const { nc, owned } = await openConnection(options.nats);
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(
    SchedulerModule.register(engine),
    {
      strategy: new JetStreamServer({
        nats: nc,
        subjects: options.subjects,
        service: 'scheduler',
        consumers: [
          schedulerJobEvents(options.config.consumerName),
          schedulerNodeEvents(options.config.consumerName),
        ],
        // The handlers only fold into memory: a batch keeps up with hundreds of jobs a second.
        pullBatch: 256,
      }),
      logger: options.logger ?? ['log', 'warn', 'error'],
    },
  );
  app.useGlobalFilters(new GantryRpcExceptionFilter());
  await app.listen();
  await engine.start(nc);
  options.log('scheduler_ready', { loadedJobs: loaded, leader: engine.isLeader });
  return {
    app,
    engine,
    close: async () => {
      await engine.stop();
      await app.close();
      if (owned) await nc.drain();
    },
  };
};
