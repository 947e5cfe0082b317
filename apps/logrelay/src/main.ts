import { eventStoreMigrations } from '@gantry/event-store';
import { connectNats, messagingMigrations } from '@gantry/messaging';
import { logMigrations } from '@gantry/projections';
import { runService } from '@gantry/service-runtime';
import { LogRelay } from './log-relay';

/**
 * The log relay: agents publish LogChunks on the LOGS stream, the relay persists them per
 * (job, attempt, rank, seq) in log_chunks, where the gateway serves tail and follow from.
 * Replicas share the durable consumer; the idempotent insert makes any overlap harmless.
 */
runService({
  name: 'logrelay',
  migrations: [...eventStoreMigrations, ...messagingMigrations, ...logMigrations],
  start: async ({ config, subjects, pool, log }) => {
    const nc = await connectNats(config.natsUrl, `gantry-logrelay-${process.pid}`);
    const relay = new LogRelay({ nc, subjects, pool, log });
    try {
      await relay.start();
    } catch (err) {
      await nc.close();
      throw err;
    }
    return {
      close: async () => {
        await relay.close();
        await nc.drain();
      },
    };
  },
});
