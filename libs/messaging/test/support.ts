import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { createSubjects, type SubjectCatalogue } from '@gantry/contracts';
import {
  createTestDatabase,
  resolveServerUrls,
  uniqueName,
  type TestDatabase,
} from '@gantry/testing';
import { connectNats, deleteStreams, ensureStreams, messagingMigrations } from '../src';

/** One test file's own namespace on the shared nats-server: its subjects, streams and connection. */
export interface NatsFixture {
  readonly subjects: SubjectCatalogue;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly natsUrl: string;
  teardown(): Promise<void>;
}

export const natsFixture = async (): Promise<NatsFixture> => {
  const { natsUrl } = resolveServerUrls();
  const subjects = createSubjects(uniqueName('t'));
  const nc = await connectNats(natsUrl, `messaging-test-${subjects.namespace}`);
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, subjects);
  return {
    subjects,
    nc,
    jsm,
    natsUrl,
    teardown: async () => {
      await deleteStreams(jsm, subjects);
      await nc.drain();
    },
  };
};

/** A database of its own with this lib's migrations applied the way the shared runner will apply them. */
export interface DatabaseFixture {
  readonly db: TestDatabase;
  readonly pool: Pool;
  teardown(): Promise<void>;
}

export const databaseFixture = async (): Promise<DatabaseFixture> => {
  const db = await createTestDatabase('messaging');
  const dataSource = new DataSource({
    type: 'postgres',
    url: db.url,
    migrations: [...messagingMigrations],
    migrationsTableName: 'schema_migrations',
  });
  await dataSource.initialize();
  try {
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await dataSource.destroy();
  }
  const pool = new Pool({ connectionString: db.url, max: 5 });
  return {
    db,
    pool,
    teardown: async () => {
      await pool.end();
      await db.drop();
    },
  };
};

/** Waits for something the system under test will eventually make true; fails with what it last saw. */
export const eventually = async <T>(
  probe: () => T | Promise<T>,
  accept: (value: T) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!accept(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last saw ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
    last = await probe();
  }
  return last;
};
