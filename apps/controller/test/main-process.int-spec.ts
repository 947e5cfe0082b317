import { spawn, type ChildProcess } from 'node:child_process';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { createSubjects, eventRegistry } from '@gantry/contracts';
import { PostgresEventStore } from '@gantry/event-store';
import { connectNats, deleteStreams, sendCommand } from '@gantry/messaging';
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
let child: ChildProcess | undefined;
let output = '';

beforeAll(async () => {
  db = await createTestDatabase('gantry_ctl_main');
  nc = await connectNats(resolveServerUrls().natsUrl, 'controller-main-int');
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await deleteStreams(jsm, subjects);
  await nc.drain();
  await db.drop();
});

const waitFor = async (pattern: RegExp, timeoutMs = 60_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(output)) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} in the output:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

it('runs as a process: migrates, answers a submission, stops cleanly on SIGTERM', async () => {
  child = spawn(process.execPath, ['tools/run.js', 'apps/controller/src/main.ts'], {
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
  await waitFor(/"event":"started"/);

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

  const exited = new Promise<number | null>((resolve) =>
    child!.on('exit', (code) => resolve(code)),
  );
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(output).toMatch(/"event":"stopped"/);
});
