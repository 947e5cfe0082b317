import { eventStoreMigrations } from '@gantry/event-store';
import { projectionMigrations } from '@gantry/projections';
import { runService } from '@gantry/service-runtime';
import { startProjector } from './projector';

/**
 * The projector: keeps the read models (job summary, tenant directory) current from the event
 * stream. It writes only projection tables, never the store (ARCHITECTURE.md invariant 6).
 */
runService({
  name: 'projector',
  migrations: [...eventStoreMigrations, ...projectionMigrations],
  start: ({ config, subjects, pool, store, log }) =>
    startProjector({ natsUrl: config.natsUrl, subjects, pool, store, log }),
});
