import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type NatsConnection } from '@nats-io/transport-node';
import { createSubjects } from '@gantry/contracts';
import { connectNats } from '@gantry/messaging';
import { resolveServerUrls, uniqueName, WORKSPACE_ROOT } from '@gantry/testing';
import { FakeScheduler, eventually } from './support';

/** main.ts as a real process: it waits for a scheduler, enrols, heartbeats, and stops on SIGTERM. */
const subjects = createSubjects(uniqueName('t'));
let nc: NatsConnection;
let scheduler: FakeScheduler;
let child: ChildProcess | undefined;
let workRoot: string;
let output = '';

beforeAll(async () => {
  nc = await connectNats(resolveServerUrls().natsUrl, 'agent-main-int');
  scheduler = new FakeScheduler(nc, subjects, 100);
  workRoot = mkdtempSync(path.join(os.tmpdir(), 'agent-main-'));
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  scheduler.stop();
  await nc.drain();
  rmSync(workRoot, { recursive: true, force: true });
});

it('enrols once a scheduler answers, heartbeats, and exits on SIGTERM', async () => {
  child = spawn(process.execPath, ['tools/run.js', 'apps/agent/src/main.ts'], {
    cwd: WORKSPACE_ROOT,
    env: {
      ...process.env,
      NATS_URL: resolveServerUrls().natsUrl,
      GANTRY_NAMESPACE: subjects.namespace,
      GANTRY_NODE_ID: 'main-node',
      GANTRY_POOLS: 'cpu,big',
      GANTRY_CPU: '3',
      GANTRY_MEMORY_MIB: '2048',
      GANTRY_LABELS: 'zone=a',
      GANTRY_WORK_ROOT: workRoot,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // No scheduler yet: the agent keeps asking.
  await eventually(
    'a failed enrolment',
    () => (/"event":"enrol-failed"/.test(output) ? true : undefined),
    60_000,
  );
  expect(output).not.toMatch(/"event":"started"/);

  scheduler.start(['main-node']);
  await eventually('started', () => (/"event":"started"/.test(output) ? true : undefined), 30_000);
  await eventually('three heartbeats', () =>
    scheduler.heartbeatsOf('main-node').length >= 3 ? true : undefined,
  );
  const beats = scheduler.heartbeatsOf('main-node');
  expect(beats.map((b) => b.sequence).slice(0, 3)).toEqual([0, 1, 2]);
  expect(beats[0]).toMatchObject({
    nodeId: 'main-node',
    pools: ['cpu', 'big'],
    labels: { zone: 'a' },
    capacity: { cpu: 3, memoryMiB: 2048, gpu: 0 },
    nodeToken: 'token-main-node',
    running: [],
  });

  const exited = new Promise<number | null>((resolve) =>
    child!.on('exit', (code) => resolve(code)),
  );
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(output).toMatch(/"event":"stopped"/);
}, 120_000);

it('refuses a bad configuration clearly', async () => {
  const bad = spawn(process.execPath, ['tools/run.js', 'apps/agent/src/main.ts'], {
    cwd: WORKSPACE_ROOT,
    env: { ...process.env, GANTRY_CPU: 'lots', GANTRY_NAMESPACE: subjects.namespace },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  bad.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => bad.on('exit', resolve));
  expect(code).toBe(2);
  expect(text).toMatch(/"event":"config-invalid".*GANTRY_CPU/);
}, 60_000);
