import { eventStoreMigrations } from '@gantry/event-store';
import { messagingMigrations } from '@gantry/messaging';
import { projectionMigrations } from '@gantry/projections';
import { runService } from '@gantry/service-runtime';
import { startAdmissionApp } from './app';

/**
 * Admission: the only writer of tenant streams (ARCHITECTURE.md, services table). Answers
 * `<ns>.cmd.admission.<verb>`; replicas share a queue group and optimistic concurrency keeps
 * their appends to one tenant in order. It migrates the projections' tables too, so the tenant
 * directory the gateway authenticates against exists once admission runs.
 */
runService({
  name: 'admission',
  migrations: [...eventStoreMigrations, ...messagingMigrations, ...projectionMigrations],
  start: ({ config, subjects, store }) =>
    startAdmissionApp({
      nats: { url: config.natsUrl, name: `gantry-admission-${process.pid}` },
      subjects,
      store,
    }),
});
