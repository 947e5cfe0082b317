import { randomUUID } from 'node:crypto';
import { eventRegistry, type EventEnvelope } from '@gantry/contracts';
import { createTestDatabase, type TestDatabase } from '@gantry/testing';
import { type JetStreamClient } from '@nats-io/jetstream';
import { Pool } from 'pg';
import { eventStoreMigrations, PostgresEventStore, runMigrations, type NewEvent } from '../src';

export interface StoreFixture {
  readonly db: TestDatabase;
  readonly pool: Pool;
  readonly store: PostgresEventStore;
  close(): Promise<void>;
}

export const createStoreFixture = async (poolSize = 10): Promise<StoreFixture> => {
  const db = await createTestDatabase('gantry_es');
  await runMigrations(db.url, eventStoreMigrations);
  const pool = new Pool({ connectionString: db.url, max: poolSize });
  // An idle client closed by the server (a test terminating sessions, or the FORCE drop racing
  // pool.end(), which resolves before its sockets close) is not a failure of the test.
  pool.on('error', () => undefined);
  return {
    db,
    pool,
    store: new PostgresEventStore(pool, eventRegistry),
    close: async () => {
      await pool.end();
      await db.drop();
    },
  };
};

/** A fluent builder for a valid event to append; each call to build() makes a new one. */
export const anEvent = () => {
  let tenant = 'acme';
  let type: 'JobAdmitted' | 'JobCancelled' = 'JobAdmitted';
  let jobId = 'j1';
  let metadata: Record<string, unknown> = {};
  const builder = {
    forTenant: (t: string) => ((tenant = t), builder),
    forJob: (id: string) => ((jobId = id), builder),
    cancelled: () => ((type = 'JobCancelled'), builder),
    withMetadata: (m: Record<string, unknown>) => ((metadata = m), builder),
    build: (): NewEvent => ({
      type,
      data:
        type === 'JobAdmitted'
          ? { jobId, admittedAt: '2025-01-01T00:00:00.000Z' }
          : { jobId, reason: 'asked', cancelledBy: 'tester' },
      metadata: { tenant, causationId: null, correlationId: randomUUID(), ...metadata },
    }),
  };
  return builder;
};

export const events = (count: number, jobId = 'j1'): NewEvent[] =>
  Array.from({ length: count }, () => anEvent().forJob(jobId).build());

/** Polls until check() returns a value; the deadline only turns a hang into a readable failure. */
export const eventually = async <T>(
  check: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

/** Reads the whole JetStream stream, in stream order, with an ordered consumer. */
export const readBus = async (
  js: JetStreamClient,
  stream: string,
  count: number,
): Promise<EventEnvelope[]> => {
  if (count === 0) return [];
  const consumer = await js.consumers.get(stream);
  const received: EventEnvelope[] = [];
  const messages = await consumer.consume();
  for await (const msg of messages) {
    received.push(msg.json<EventEnvelope>());
    if (received.length >= count) break;
  }
  await messages.close();
  return received;
};
