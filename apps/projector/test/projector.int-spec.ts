import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { createSubjects, eventRegistry, JobSpecSchema, type JobCommand } from '@gantry/contracts';
import { decide, initialJobState } from '@gantry/domain';
import { eventStoreMigrations, PostgresEventStore, runMigrations } from '@gantry/event-store';
import { connectNats, deleteStreams, publishEvent } from '@gantry/messaging';
import { projectionMigrations } from '@gantry/projections';
import {
  createTestDatabase,
  resolveServerUrls,
  uniqueName,
  type TestDatabase,
} from '@gantry/testing';
import { startProjector, type RunningProjector } from '../src/projector';

/** The projector on real servers: it catches up from the store at start, then follows the bus. */
const subjects = createSubjects(uniqueName('t'));
let db: TestDatabase;
let pool: Pool;
let store: PostgresEventStore;
let nc: NatsConnection;
let jsm: JetStreamManager;
let projector: RunningProjector | undefined;
const errors: unknown[] = [];

beforeAll(async () => {
  db = await createTestDatabase('gantry_projector');
  await runMigrations(db.url, [...eventStoreMigrations, ...projectionMigrations]);
  pool = new Pool({ connectionString: db.url, max: 4 });
  store = new PostgresEventStore(pool, eventRegistry);
  nc = await connectNats(resolveServerUrls().natsUrl, 'projector-int');
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await projector?.close();
  await deleteStreams(jsm, subjects).catch(() => undefined);
  await nc?.drain();
  await pool?.end();
  await db?.drop();
});

/** Appends a submission as the controller would; returns the stored envelopes. */
const submitJob = async (jobId: string) => {
  const command: JobCommand = {
    type: 'SubmitJob',
    data: {
      spec: JobSpecSchema.parse({ command: ['true'], resources: { cpu: 1, memoryMiB: 64 } }),
      idempotencyKey: null,
    },
  };
  const events = decide(initialJobState({ tenant: 'acme', jobId }), command, new Date());
  const { events: stored } = await store.append(
    `job-${jobId}`,
    'no_stream',
    events.map((event) => ({
      type: event.type,
      data: event.data,
      metadata: {
        tenant: 'acme',
        causationId: null,
        correlationId: `corr-${jobId}`,
        occurredAt: new Date(),
      },
    })),
  );
  return stored;
};

const stateOf = async (jobId: string): Promise<string | undefined> =>
  (await pool.query<{ state: string }>('SELECT state FROM job_summary WHERE job_id = $1', [jobId]))
    .rows[0]?.state;

it('projects what the store already holds at start, then what arrives on the bus', async () => {
  const before = uniqueName('job');
  await submitJob(before); // never published: only the catch-up can find it

  projector = await startProjector({
    natsUrl: resolveServerUrls().natsUrl,
    subjects,
    pool,
    store,
    log: (event, fields) => {
      if (event === 'projection_error') errors.push(fields);
    },
  });
  expect(await stateOf(before)).toBe('PENDING');

  const after = uniqueName('job');
  const js = jetstream(nc);
  for (const event of await submitJob(after)) await publishEvent(js, subjects, event);
  const deadline = Date.now() + 20_000;
  while ((await stateOf(after)) === undefined) {
    if (Date.now() > deadline) throw new Error(`not projected; errors: ${JSON.stringify(errors)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(await stateOf(after)).toBe('PENDING');
  expect(errors).toEqual([]);
});
