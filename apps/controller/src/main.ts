import { eventStoreMigrations } from '@gantry/event-store';
import { messagingMigrations } from '@gantry/messaging';
import { runService } from '@gantry/service-runtime';
import { startControllerApp } from './app';

/**
 * The execution controller: the only writer of job streams (ARCHITECTURE.md, services table).
 * Answers `<ns>.cmd.controller.<verb>`; run any number of replicas, they share a queue group and
 * optimistic concurrency keeps their appends to one job in order.
 */
runService({
  name: 'controller',
  migrations: [...eventStoreMigrations, ...messagingMigrations],
  start: ({ config, subjects, store }) =>
    startControllerApp({
      nats: { url: config.natsUrl, name: `gantry-controller-${process.pid}` },
      subjects,
      store,
    }),
});
