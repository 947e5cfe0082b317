import { eventStoreMigrations } from '@gantry/event-store';
import { connectNats } from '@gantry/messaging';
import { projectionMigrations, stagedFilesMigrations } from '@gantry/projections';
import { runService } from '@gantry/service-runtime';
import { startStagingApp } from './app';
import { DEV_STAGING_SECRET, readOrphanSweepConfig, readStagingHttpConfig } from './staging.config';

/**
 * Staging: the only writer of `file-…` streams and of the staged bytes (a JetStream object store
 * bucket). Answers `<ns>.cmd.staging.<verb>` (create-file, resolve-inputs) and serves the signed
 * blob URLs over HTTP; see staging.config.ts for its settings.
 */
runService({
  name: 'staging',
  migrations: [...eventStoreMigrations, ...projectionMigrations, ...stagedFilesMigrations],
  start: async ({ config, subjects, pool, store, log }) => {
    const http = readStagingHttpConfig(process.env);
    const orphans = readOrphanSweepConfig(process.env);
    if (http.secret === DEV_STAGING_SECRET) {
      log('dev_secret', {
        warning: 'GANTRY_STAGING_SECRET is unset: signed URLs use the dev secret',
      });
    }
    const nc = await connectNats(config.natsUrl, `gantry-staging-${process.pid}`);
    const app = await startStagingApp({ nc, subjects, pool, store, http, orphans, log });
    return {
      close: async () => {
        await app.close();
        await nc.drain();
      },
    };
  },
});
