import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { createSubjects, eventRegistry, type SubjectCatalogue } from '@gantry/contracts';
import { PostgresEventStore, runMigrations, type MigrationClass } from '@gantry/event-store';
import { connectNats, deleteStreams, ensureStreams } from '@gantry/messaging';
import {
  createTestDatabase,
  resolveServerUrls,
  uniqueName,
  type TestDatabase,
} from '@gantry/testing';

/**
 * What a service's integration test stands on: its own database (migrated), its own NATS
 * namespace, a pool, the event store and a JetStream manager; `close()` takes it all down in
 * reverse, deleting the namespace's streams, so runs sharing the servers never meet.
 */
export interface ServiceTestBed {
  readonly subjects: SubjectCatalogue;
  readonly db: TestDatabase;
  readonly pool: Pool;
  readonly store: PostgresEventStore;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  close(): Promise<void>;
}

export interface ServiceTestBedOptions {
  /** Prefix of the database name, for telling leftovers apart. */
  readonly name: string;
  readonly migrations: readonly MigrationClass[];
  readonly poolSize?: number;
  /** Create the namespace's streams up front (default); off when the code under test must. */
  readonly ensureStreams?: boolean;
}

export const createServiceTestBed = async (
  options: ServiceTestBedOptions,
): Promise<ServiceTestBed> => {
  const subjects = createSubjects(uniqueName('t'));
  const db = await createTestDatabase(options.name);
  await runMigrations(db.url, options.migrations);
  const pool = new Pool({ connectionString: db.url, max: options.poolSize ?? 10 });
  // DROP DATABASE ... WITH (FORCE) at the end can cut a socket pool.end() has not closed yet.
  pool.on('error', () => undefined);
  const store = new PostgresEventStore(pool, eventRegistry);
  const nc = await connectNats(resolveServerUrls().natsUrl, `${options.name}-int`);
  const jsm = await jetstreamManager(nc);
  if (options.ensureStreams ?? true) await ensureStreams(jsm, subjects);
  return {
    subjects,
    db,
    pool,
    store,
    nc,
    jsm,
    close: async () => {
      await deleteStreams(jsm, subjects).catch(() => undefined);
      await nc.drain();
      await pool.end();
      await db.drop();
    },
  };
};
