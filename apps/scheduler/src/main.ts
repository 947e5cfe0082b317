import { eventStoreMigrations } from '@gantry/event-store';
import { messagingMigrations } from '@gantry/messaging';
import { projectionMigrations, schedulerNodesMigrations } from '@gantry/projections';
import { runService } from '@gantry/service-runtime';
import { startSchedulerApp } from './app';
import { readSchedulerConfig } from './config';

/**
 * The scheduler: enrols nodes, hears their heartbeats, places queued jobs (gang: all N nodes or
 * none) and leases them through the controller, reaps leases and reports lost nodes. Run several;
 * one places (Postgres advisory lock), the rest stand by. Give each replica its own
 * GANTRY_SCHEDULER_CONSUMER so every one of them sees every job event.
 */
runService({
  name: 'scheduler',
  migrations: [
    ...eventStoreMigrations,
    ...messagingMigrations,
    ...projectionMigrations,
    ...schedulerNodesMigrations,
  ],
  start: ({ config, subjects, store, pool, log }) =>
    startSchedulerApp({
      nats: { url: config.natsUrl, name: `gantry-scheduler-${process.pid}` },
      subjects,
      store,
      pool,
      databaseUrl: config.databaseUrl,
      config: readSchedulerConfig(process.env),
      log,
    }),
});
