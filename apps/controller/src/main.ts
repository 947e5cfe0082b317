import { Pool } from 'pg';
import { createSubjects, eventRegistry } from '@gantry/contracts';
import { eventStoreMigrations, PostgresEventStore, runMigrations } from '@gantry/event-store';
import { messagingMigrations } from '@gantry/messaging';
import { startTelemetry } from '@gantry/telemetry';
import { startControllerApp } from './app';
import { readControllerConfig } from './config';

/**
 * The execution controller: the only writer of job streams (ARCHITECTURE.md, services table).
 * Answers `<ns>.cmd.controller.<verb>`; run any number of replicas, they share a queue group and
 * optimistic concurrency keeps their appends to one job in order.
 */
const log = (event: string, fields: Readonly<Record<string, unknown>> = {}): void => {
  process.stdout.write(
    `${JSON.stringify({ time: new Date().toISOString(), service: 'controller', event, ...fields })}\n`,
  );
};

const main = async (): Promise<void> => {
  const telemetry = startTelemetry({ serviceName: 'controller' });
  const config = readControllerConfig(process.env);
  const applied = await runMigrations(config.databaseUrl, [
    ...eventStoreMigrations,
    ...messagingMigrations,
  ]);
  if (applied.length > 0) log('migrated', { applied });

  const pool = new Pool({ connectionString: config.databaseUrl, max: 10 });
  pool.on('error', (err) => log('pool_error', { error: err.message }));
  const app = await startControllerApp({
    nats: { url: config.natsUrl, name: `gantry-controller-${process.pid}` },
    subjects: createSubjects(config.namespace),
    store: new PostgresEventStore(pool, eventRegistry),
  });
  log('started', { namespace: config.namespace });

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log('forced_exit', { signal });
      process.exit(1);
    }
    stopping = true;
    log('stopping', { signal });
    void (async () => {
      // Closing the app stops taking commands and answers those in flight before the pool goes.
      await app.close();
      await pool.end();
      await telemetry.shutdown();
      log('stopped');
      process.exit(0);
    })();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
};

main().catch((err: unknown) => {
  log('fatal', { error: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
