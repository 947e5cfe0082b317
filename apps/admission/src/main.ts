import { eventStoreMigrations } from '@gantry/event-store';
import { messagingMigrations } from '@gantry/messaging';
import { projectionMigrations } from '@gantry/projections';
import { runService } from '@gantry/service-runtime';
import { startAdmissionApp } from './app';

/**
 * Admission: the only writer of tenant streams (ARCHITECTURE.md, services table). Answers
 * `<ns>.cmd.admission.<verb>`; replicas share a queue group and optimistic concurrency keeps
 * their appends to one tenant in order. It migrates the projections' tables too, so the tenant
 * directory the gateway authenticates against exists once admission runs. It also answers
 * `admission.submit` (the quota verdict, B2), releases what ended jobs held, and every 30 s
 * finishes admissions a crash left halfway.
 */
runService({
  name: 'admission',
  migrations: [...eventStoreMigrations, ...messagingMigrations, ...projectionMigrations],
  start: ({ config, subjects, store, pool }) =>
    startAdmissionApp({
      nats: { url: config.natsUrl, name: `gantry-admission-${process.pid}` },
      subjects,
      store,
      pool,
    }),
});
