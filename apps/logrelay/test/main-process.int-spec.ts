import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { createSubjects, type LogChunk } from '@gantry/contracts';
import { connectNats, deleteStreams } from '@gantry/messaging';
import { ServiceProcess } from '@gantry/platform';
import {
  createTestDatabase,
  eventually,
  resolveServerUrls,
  uniqueName,
  WORKSPACE_ROOT,
  type TestDatabase,
} from '@gantry/testing';

/** main.ts as a real process: it migrates, stores what agents publish, and stops on SIGTERM. */
const subjects = createSubjects(uniqueName('t'));
let db: TestDatabase;
let nc: NatsConnection;
let jsm: JetStreamManager;
let child: ServiceProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase('gantry_logrelay_main');
  nc = await connectNats(resolveServerUrls().natsUrl, 'logrelay-main-int');
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await child?.kill();
  await deleteStreams(jsm, subjects);
  await nc.drain();
  await db.drop();
});

it('runs as a process: migrates, stores a published chunk, stops cleanly on SIGTERM', async () => {
  child = ServiceProcess.spawn({
    name: 'logrelay',
    entry: 'apps/logrelay/src/main.ts',
    cwd: WORKSPACE_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      NATS_URL: resolveServerUrls().natsUrl,
      GANTRY_NAMESPACE: subjects.namespace,
    },
  });
  await child.waitFor(/"event":"started"/);

  const chunk: LogChunk = {
    tenant: 'acme',
    jobId: 'j-main',
    attempt: 1,
    rank: 0,
    leaseEpoch: 1,
    seq: 0,
    stream: 'stdout',
    data: 'hello\n',
    at: new Date().toISOString(),
    eof: true,
    exitCode: 0,
  };
  await jetstream(nc).publish(subjects.log('acme', 'j-main', 1, 0), JSON.stringify(chunk));
  const pool = new Pool({ connectionString: db.url, max: 1 });
  try {
    await eventually(async () => {
      const { rows } = await pool.query(
        "SELECT data FROM log_chunks WHERE tenant = 'acme' AND job_id = 'j-main'",
      );
      return rows.length === 1;
    }, 'the chunk in log_chunks');
  } finally {
    await pool.end();
  }

  await child.stop();
  expect(child.exitCode).toBe(0);
  expect(child.output).toMatch(/"event":"stopped"/);
});
