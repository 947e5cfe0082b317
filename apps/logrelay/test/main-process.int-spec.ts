import { spawn, type ChildProcess } from 'node:child_process';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { createSubjects, type LogChunk } from '@gantry/contracts';
import { connectNats, deleteStreams } from '@gantry/messaging';
import {
  createTestDatabase,
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
let child: ChildProcess | undefined;
let output = '';

beforeAll(async () => {
  db = await createTestDatabase('gantry_logrelay_main');
  nc = await connectNats(resolveServerUrls().natsUrl, 'logrelay-main-int');
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await deleteStreams(jsm, subjects);
  await nc.drain();
  await db.drop();
});

const waitFor = async (what: string, probe: () => boolean | Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + 60_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

it('runs as a process: migrates, stores a published chunk, stops cleanly on SIGTERM', async () => {
  child = spawn(process.execPath, ['tools/run.js', 'apps/logrelay/src/main.ts'], {
    cwd: WORKSPACE_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      NATS_URL: resolveServerUrls().natsUrl,
      GANTRY_NAMESPACE: subjects.namespace,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor('started', () => /"event":"started"/.test(output));

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
    await waitFor('the chunk in log_chunks', async () => {
      const { rows } = await pool.query(
        "SELECT data FROM log_chunks WHERE tenant = 'acme' AND job_id = 'j-main'",
      );
      return rows.length === 1;
    });
  } finally {
    await pool.end();
  }

  const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(output).toMatch(/"event":"stopped"/);
});
