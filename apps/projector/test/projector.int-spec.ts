import { jetstream } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { type Pool } from 'pg';
import { JobSpecSchema, type JobCommand, type SubjectCatalogue } from '@gantry/contracts';
import { decide, initialJobState } from '@gantry/domain';
import { eventStoreMigrations, type PostgresEventStore } from '@gantry/event-store';
import { publishEvent } from '@gantry/messaging';
import { projectionMigrations } from '@gantry/projections';
import { createServiceTestBed, type ServiceTestBed } from '@gantry/service-testing';
import { resolveServerUrls, uniqueName } from '@gantry/testing';
import { startProjector, type RunningProjector } from '../src/projector';

/** The projector on real servers: it catches up from the store at start, then follows the bus. */
let bed: ServiceTestBed;
let subjects: SubjectCatalogue;
let pool: Pool;
let store: PostgresEventStore;
let nc: NatsConnection;
let projector: RunningProjector | undefined;
const errors: unknown[] = [];

beforeAll(async () => {
  bed = await createServiceTestBed({
    name: 'gantry_projector',
    migrations: [...eventStoreMigrations, ...projectionMigrations],
    poolSize: 4,
    ensureStreams: false,
  });
  ({ subjects, pool, store, nc } = bed);
});

afterAll(async () => {
  await projector?.close();
  await bed?.close();
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
