import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type Pool } from 'pg';
import { type SubjectCatalogue } from '@gantry/contracts';
import { type PostgresEventStore } from '@gantry/event-store';
import { connectNats, ensureStreams } from '@gantry/messaging';
import {
  catchUpProjection,
  jobSummaryProjection,
  PostgresProjectionSink,
  ProjectionRunner,
  alertsProjection,
  tenantDirectoryProjection,
  type ProjectionDefinition,
} from '@gantry/projections';
import { type ServiceLog } from '@gantry/service-runtime';

/**
 * The read models the gateway serves from: job status and list, the tenant directory (auth,
 * usage, spend) and the alerts.
 */
export const PROJECTIONS: readonly ProjectionDefinition[] = [
  jobSummaryProjection,
  tenantDirectoryProjection,
  alertsProjection,
];

export interface ProjectorOptions {
  readonly natsUrl: string;
  readonly subjects: SubjectCatalogue;
  readonly pool: Pool;
  readonly store: PostgresEventStore;
  readonly log: ServiceLog;
  readonly projections?: readonly ProjectionDefinition[];
}

export interface RunningProjector {
  close(): Promise<void>;
}

/**
 * Each projection first catches up from the store (what the bus may have lost at a stream's
 * tail, or everything, on a fresh database), then follows JetStream on its durable consumer.
 * Replicas share the consumer, and the sink's per-stream versions make a redelivery a no-op.
 */
export const startProjector = async (options: ProjectorOptions): Promise<RunningProjector> => {
  const nc = await connectNats(options.natsUrl, `gantry-projector-${process.pid}`);
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, options.subjects);
  const js = jetstream(nc);
  const runners: ProjectionRunner[] = [];
  try {
    for (const definition of options.projections ?? PROJECTIONS) {
      const sink = new PostgresProjectionSink(options.pool, definition, options.store);
      const caughtUp = await catchUpProjection(options.store, sink);
      options.log('caught_up', {
        projection: definition.name,
        eventsRead: caughtUp.eventsRead,
        eventsApplied: caughtUp.eventsApplied,
      });
      const runner = new ProjectionRunner({
        js,
        jsm,
        subjects: options.subjects,
        sink,
        onError: (err, { stage }) =>
          options.log('projection_error', {
            projection: definition.name,
            stage,
            error: err instanceof Error ? err.message : String(err),
          }),
      });
      await runner.start();
      runners.push(runner);
    }
  } catch (err) {
    await Promise.all(runners.map((r) => r.stop()));
    await nc.close();
    throw err;
  }
  return {
    close: async () => {
      await Promise.all(runners.map((r) => r.stop()));
      await nc.drain();
    },
  };
};
