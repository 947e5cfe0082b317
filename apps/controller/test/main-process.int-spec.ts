import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { createSubjects, eventRegistry } from '@gantry/contracts';
import { PostgresEventStore } from '@gantry/event-store';
import { connectNats, deleteStreams, sendCommand } from '@gantry/messaging';
import { ServiceProcess } from '@gantry/platform';
import {
  createTestDatabase,
  resolveServerUrls,
  uniqueName,
  WORKSPACE_ROOT,
  type TestDatabase,
} from '@gantry/testing';
import { type JobReply } from '../src/job-commands';
import { aCommand, aSpec } from './support';

/** main.ts as a real process: it migrates its database, answers a submission, and stops on SIGTERM. */
const subjects = createSubjects(uniqueName('t'));
let db: TestDatabase;
let nc: NatsConnection;
let jsm: JetStreamManager;
let child: ServiceProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase('gantry_ctl_main');
  nc = await connectNats(resolveServerUrls().natsUrl, 'controller-main-int');
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await child?.kill();
  await deleteStreams(jsm, subjects);
  await nc.drain();
  await db.drop();
});

it('runs as a process: migrates, answers a submission, stops cleanly on SIGTERM', async () => {
  child = ServiceProcess.spawn({
    name: 'controller',
    entry: 'apps/controller/src/main.ts',
    cwd: WORKSPACE_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      NATS_URL: resolveServerUrls().natsUrl,
      GANTRY_NAMESPACE: subjects.namespace,
    },
  });
  await child.waitFor(/"event":"started"/);

  const reply = await sendCommand<JobReply>(
    nc,
    subjects,
    'controller',
    'submit',
    aCommand('SubmitJob', { spec: aSpec(), idempotencyKey: 'e2e-1' }),
    { timeoutMs: 15_000 },
  );
  expect(reply).toMatchObject({ state: 'PENDING', version: 1 });

  const pool = new Pool({ connectionString: db.url, max: 1 });
  try {
    const events = await new PostgresEventStore(pool, eventRegistry).readStream(
      `job-${reply.jobId}`,
    );
    expect(events.map((e) => e.type)).toEqual(['JobSubmitted']);
  } finally {
    await pool.end();
  }

  await child.stop();
  expect(child.exitCode).toBe(0);
  expect(child.output).toMatch(/"event":"stopped"/);
});
