import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createSubjects, eventRegistry, type EventEnvelope } from '@gantry/contracts';
import {
  eventStoreMigrations,
  PostgresEventStore,
  runMigrations,
  type NewEvent,
} from '@gantry/event-store';
import { connectNats, deleteStreams, ensureStreams, streamNames } from '@gantry/messaging';
import {
  createTestDatabase,
  eventually,
  resolveServerUrls,
  type TestDatabase,
  uniqueName,
  WORKSPACE_ROOT,
} from '@gantry/testing';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';

/**
 * The publisher as a real process, killed with SIGKILL while it publishes and started again:
 * every event reaches the bus exactly once after dedupe, in version order per stream.
 */
const STREAMS = 30;
const EVENTS_PER_STREAM = 100;
const EVENTS_PER_APPEND = 5;
const TOTAL = STREAMS * EVENTS_PER_STREAM;

let db: TestDatabase;
let pool: Pool;
let store: PostgresEventStore;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const subjects = createSubjects(uniqueName('t'));
const children: ChildProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase('gantry_pub');
  await runMigrations(db.url, eventStoreMigrations);
  pool = new Pool({ connectionString: db.url, max: 10 });
  // An idle client closed by the server (the database dropped with FORCE at the end) is not a failure here.
  pool.on('error', () => undefined);
  store = new PostgresEventStore(pool, eventRegistry);
  nc = await connectNats(resolveServerUrls().natsUrl, 'crash-recovery-int');
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, subjects);
});

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await deleteStreams(jsm, subjects);
  await nc.drain();
  await pool.end();
  await db.drop();
});

const startPublisher = async (): Promise<ChildProcess> => {
  const child = spawn(process.execPath, ['tools/run.js', 'apps/event-publisher/src/main.ts'], {
    cwd: WORKSPACE_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      NATS_URL: resolveServerUrls().natsUrl,
      GANTRY_NAMESPACE: subjects.namespace,
      // Small batches: many checkpoints, so a kill lands between publish and checkpoint.
      GANTRY_PUBLISHER_BATCH_SIZE: '50',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('"event":"leader"')) resolve();
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) =>
      reject(new Error(`publisher exited with ${code} before leading:\n${output}`)),
    );
  });
  return child;
};

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

const onBus = async () => (await jsm.streams.info(streamNames(subjects).events)).state.messages;

const newEvents = (jobId: string): NewEvent[] =>
  Array.from({ length: EVENTS_PER_APPEND }, () => ({
    type: 'JobAdmitted',
    data: { jobId, admittedAt: new Date().toISOString() },
    metadata: { tenant: 'acme', causationId: null, correlationId: randomUUID() },
  }));

const appendEverything = async (streams: readonly string[]): Promise<void> => {
  await Promise.all(
    streams.map(async (stream, i) => {
      for (let version = 0; version < EVENTS_PER_STREAM; version += EVENTS_PER_APPEND) {
        await store.append(stream, version === 0 ? 'no_stream' : version, newEvents(`job${i}`));
      }
    }),
  );
};

it('loses nothing and duplicates nothing when the publisher is killed mid-batch and restarted', async () => {
  const streams = Array.from({ length: STREAMS }, () => `job-${randomUUID()}`);
  const first = await startPublisher();

  const appending = appendEverything(streams);
  await eventually(async () => (await onBus()) >= 200, 'the publisher to be under way');
  first.kill('SIGKILL');
  await exited(first);
  const atKill = await onBus();
  await appending;
  expect(atKill).toBeLessThan(TOTAL); // the kill really landed mid-stream

  const second = await startPublisher();
  await eventually(async () => (await onBus()) >= TOTAL, `${TOTAL} events on the bus`);
  // Wait for the checkpoint to reach the end, so any republish would already be on the bus.
  await eventually(async () => {
    const { rows } = await pool.query(
      `SELECT (SELECT (transaction_id, position) FROM publisher_checkpoints)
            = (SELECT (transaction_id, global_position) FROM events ORDER BY transaction_id DESC, global_position DESC LIMIT 1) AS done`,
    );
    return rows[0].done === true;
  }, 'the checkpoint to reach the last event');
  expect(await onBus()).toBe(TOTAL);

  const consumer = await js.consumers.get(streamNames(subjects).events);
  const received: EventEnvelope[] = [];
  const messages = await consumer.consume();
  for await (const msg of messages) {
    received.push(msg.json<EventEnvelope>());
    if (received.length === TOTAL) break;
  }
  await messages.close();

  expect(new Set(received.map((e) => e.id)).size).toBe(TOTAL);
  const stored = await pool.query<{ event_id: string }>('SELECT event_id FROM events');
  expect(new Set(received.map((e) => e.id))).toEqual(new Set(stored.rows.map((r) => r.event_id)));
  const expected = Array.from({ length: EVENTS_PER_STREAM }, (_, i) => i + 1);
  for (const stream of streams) {
    expect(
      received.filter((e) => e.metadata.streamId === stream).map((e) => e.metadata.streamVersion),
    ).toEqual(expected);
  }

  // And a graceful stop: SIGTERM finishes the batch, checkpoints and exits 0.
  second.kill('SIGTERM');
  expect(await exited(second)).toBe(0);
});
