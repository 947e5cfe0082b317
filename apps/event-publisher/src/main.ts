import { createSubjects, eventRegistry } from '@gantry/contracts';
import {
  EventPublisher,
  eventStoreMigrations,
  PostgresEventStore,
  runMigrations,
} from '@gantry/event-store';
import { connectNats, ensureStreams } from '@gantry/messaging';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Pool } from 'pg';
import { startTelemetry } from '@gantry/telemetry';
import { readPublisherConfig } from './config';

/**
 * The event publisher process: puts every committed event on JetStream (ARCHITECTURE.md
 * invariant 3). Run any number of replicas; one publishes, the rest stand by.
 */
const log = (event: string, fields: Readonly<Record<string, unknown>> = {}): void => {
  process.stdout.write(
    `${JSON.stringify({ time: new Date().toISOString(), service: 'event-publisher', event, ...fields })}\n`,
  );
};

const main = async (): Promise<void> => {
  // Events carry their appender's traceparent; the publisher copies it into the NATS headers, so
  // the trace that began at the append continues into every consumer.
  const telemetry = startTelemetry({ serviceName: 'event-publisher' });
  const config = readPublisherConfig(process.env);
  const subjects = createSubjects(config.namespace);

  const applied = await runMigrations(config.databaseUrl, eventStoreMigrations);
  if (applied.length > 0) log('migrated', { applied });
  const nc = await connectNats(config.natsUrl, `gantry-event-publisher-${process.pid}`);
  await ensureStreams(await jetstreamManager(nc), subjects);

  // The publisher reads through its own session; the pool only backs the store's other methods.
  const pool = new Pool({ connectionString: config.databaseUrl, max: 1 });
  pool.on('error', (err) => log('pool_error', { error: err.message }));
  const publisher = new EventPublisher({
    databaseUrl: config.databaseUrl,
    store: new PostgresEventStore(pool, eventRegistry),
    js: jetstream(nc),
    subjects,
    name: config.name,
    batchSize: config.batchSize,
    pollIntervalMs: config.pollIntervalMs,
    log,
  });
  publisher.start();
  log('started', {
    namespace: config.namespace,
    name: config.name,
    instanceId: publisher.instanceId,
  });

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log('forced_exit', { signal });
      process.exit(1);
    }
    stopping = true;
    log('stopping', { signal });
    void (async () => {
      await publisher.stop();
      await nc.drain();
      await pool.end();
      await telemetry.shutdown();
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
