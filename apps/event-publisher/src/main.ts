import { EventPublisher, eventStoreMigrations } from '@gantry/event-store';
import { connectNats, ensureStreams } from '@gantry/messaging';
import { runService } from '@gantry/service-runtime';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { readPublisherConfig } from './config';

/**
 * The event publisher process: puts every committed event on JetStream (ARCHITECTURE.md
 * invariant 3). Run any number of replicas; one publishes, the rest stand by. Events carry their
 * appender's traceparent and the publisher copies it into the NATS headers, so the trace that
 * began at the append continues into every consumer.
 */
runService({
  name: 'event-publisher',
  migrations: eventStoreMigrations,
  // The publisher reads through its own leader session; the pool only backs the store's other methods.
  poolSize: 1,
  start: async ({ subjects, store, log }) => {
    const config = readPublisherConfig(process.env);
    const nc = await connectNats(config.natsUrl, `gantry-event-publisher-${process.pid}`);
    await ensureStreams(await jetstreamManager(nc), subjects);
    const publisher = new EventPublisher({
      databaseUrl: config.databaseUrl,
      store,
      js: jetstream(nc),
      subjects,
      name: config.name,
      batchSize: config.batchSize,
      pollIntervalMs: config.pollIntervalMs,
      log,
    });
    publisher.start();
    log('publishing', { name: config.name, instanceId: publisher.instanceId });
    return {
      close: async () => {
        await publisher.stop();
        await nc.drain();
      },
    };
  },
});
