import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type INestMicroservice } from '@nestjs/common';
import { type LeaseOffer, type LogChunk } from '@gantry/contracts';
import { eventStoreMigrations } from '@gantry/event-store';
import { messagingMigrations, streamNames } from '@gantry/messaging';
import { liveGroupMembers } from '@gantry/process-runner';
import { createServiceTestBed, type ServiceTestBed } from '@gantry/service-testing';
// The real controller, in-process, as admission's tests do: the test owns its lifetime.
// eslint-disable-next-line @nx/enforce-module-boundaries -- a test-only seam
import { startControllerApp } from '../../controller/src/app';
import { startAgent, type Agent } from '../src/agent';
import { FakeScheduler, anOffer, controllerCommand, eventually, testAgentOptions } from './support';

/**
 * Two agents in-process against the real controller (Postgres, NATS) and a fake scheduler: jobs are
 * driven through the controller's commands as the scheduler would, and the offers pushed by hand.
 */
let bed: ServiceTestBed;
let controller: INestMicroservice;
let scheduler: FakeScheduler;
let workRoot: string;
const agents = new Map<string, Agent>();
/** Files a fake staging serves: ref -> body; `tamper` makes staging promise another digest. */
const staged = new Map<string, { body: string; tamper?: boolean }>();
let files: Server;
let filesUrl: string;
const logLines: string[] = [];

beforeAll(async () => {
  bed = await createServiceTestBed({
    name: 'gantry_agent',
    migrations: [...eventStoreMigrations, ...messagingMigrations],
  });
  controller = await startControllerApp({
    nats: bed.nc,
    subjects: bed.subjects,
    store: bed.store,
    logger: false,
  });
  files = createServer((req, res) => {
    const file = staged.get((req.url ?? '').slice(1));
    res.statusCode = file ? 200 : 404;
    res.end(file?.body ?? 'no such file');
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  scheduler = new FakeScheduler(bed.nc, bed.subjects);
  scheduler.start(['n1', 'n2']);
  workRoot = mkdtempSync(path.join(os.tmpdir(), 'agent-int-'));
  // As root the job runs as nobody, which must be able to walk down to its work dir.
  chmodSync(workRoot, 0o711);
  for (const nodeId of ['n1', 'n2']) {
    agents.set(
      nodeId,
      await startAgent({
        ...testAgentOptions(bed, workRoot, nodeId),
        inputResolver: async ({ refs }) =>
          refs.map((ref) => {
            const body = staged.get(ref)?.body ?? '';
            return {
              ref,
              url: `${filesUrl}/${ref}`,
              sha256: createHash('sha256')
                .update(staged.get(ref)?.tamper ? `${body}!` : body)
                .digest('hex'),
              size: Buffer.byteLength(body),
              expiresAt: new Date(Date.now() + 60_000).toISOString(),
            };
          }),
        log: (event, fields) => logLines.push(JSON.stringify({ node: nodeId, event, ...fields })),
      }),
    );
  }
}, 60_000);

afterAll(async () => {
  for (const agent of agents.values()) await agent.close({ killRunning: true });
  scheduler?.stop();
  await controller?.close();
  await new Promise((resolve) => files?.close(resolve));
  await bed?.close();
  if (workRoot) rmSync(workRoot, { recursive: true, force: true });
});

const tenant = 'acme';

const send = <T = { jobId: string; state: string }>(
  verb: string,
  type: string,
  data: Record<string, unknown>,
): Promise<T> => controllerCommand(bed.nc, bed.subjects, tenant)<T>(verb, type, data);

/** A job submitted, admitted, queued and leased under epoch 1 to n1 (rank 0) and, for two nodes, n2. */
const leasedJob = async (
  command: string[],
  nodes: 1 | 2,
  inputs: LeaseOffer['inputs'] = [],
  maxRuntimeSeconds?: number,
): Promise<LeaseOffer[]> => {
  const spec = {
    command,
    nodes,
    resources: { cpu: 1, memoryMiB: 64 },
    ...(maxRuntimeSeconds === undefined ? {} : { maxRuntimeSeconds }),
  };
  const { jobId } = await send('submit', 'SubmitJob', { spec, idempotencyKey: null });
  await send('admit', 'AdmitJob', { jobId });
  await send('queue', 'QueueJob', { jobId });
  const gang = ['n1', 'n2'].slice(0, nodes);
  const leaseExpiresAt = new Date(Date.now() + 30_000).toISOString();
  await send('lease', 'LeaseJob', {
    jobId,
    leaseEpoch: 1,
    nodes: gang.map((nodeId, rank) => ({ nodeId, rank })),
    leaseExpiresAt,
  });
  return gang.map((_nodeId, rank) =>
    anOffer({
      jobId,
      rank,
      worldSize: nodes,
      hosts: gang,
      coordinator: 'n1:29500',
      command,
      leaseExpiresAt,
      inputs,
      ...(maxRuntimeSeconds === undefined ? {} : { maxRuntimeSeconds }),
    }),
  );
};

const eventTypes = async (jobId: string): Promise<string[]> =>
  (await bed.store.readStream(`job-${jobId}`)).map((e) => e.type);

const waitForEvent = (jobId: string, type: string) =>
  eventually(`${type} of ${jobId}`, async () =>
    (await eventTypes(jobId)).includes(type) ? true : undefined,
  );

/** Every chunk of the job on the LOGS stream, in stream order (this test owns the stream). */
const readLogs = async (jobId: string): Promise<LogChunk[]> => {
  const stream = streamNames(bed.subjects).logs;
  const info = await bed.jsm.streams.info(stream);
  const chunks: LogChunk[] = [];
  for (
    let seq = info.state.first_seq;
    seq <= info.state.last_seq && info.state.messages > 0;
    seq++
  ) {
    const msg = await bed.jsm.streams.getMessage(stream, { seq }).catch(() => null);
    const chunk = msg?.json<LogChunk>();
    if (chunk?.jobId === jobId) chunks.push(chunk);
  }
  return chunks;
};

const outputOf = (chunks: readonly LogChunk[], rank: number) =>
  chunks
    .filter((c) => c.rank === rank)
    .map((c) => c.data)
    .join('');

describe('agent', () => {
  it('runs a 2-node job to SUCCEEDED with the GANTRY_* env, fresh work dirs and complete logs', async () => {
    const command = [
      'sh',
      '-c',
      'echo "env $GANTRY_JOB_ID $GANTRY_ATTEMPT $GANTRY_RANK $GANTRY_WORLD_SIZE $GANTRY_HOSTS $GANTRY_COORDINATOR"; echo "dir $(pwd) $(ls -A | tr \"\\n\" \" \")$GANTRY_OUTPUT_DIR"; i=0; while [ $i -lt 300 ]; do echo "line $i"; i=$((i+1)); done; echo oops >&2',
    ];
    const offers = await leasedJob(command, 2);
    const jobId = offers[0]!.jobId;
    scheduler.grant('n1', offers[0]!);
    scheduler.grant('n2', offers[1]!);
    await waitForEvent(jobId, 'JobSucceeded');
    scheduler.revoke('n1', jobId);
    scheduler.revoke('n2', jobId);

    expect(await eventTypes(jobId)).toEqual([
      'JobSubmitted',
      'JobAdmitted',
      'JobQueued',
      'JobLeased',
      'JobStarted',
      'RankExited',
      'RankExited',
      'JobSucceeded',
    ]);
    const chunks = await readLogs(jobId);
    for (const [rank, nodeId] of ['n1', 'n2'].entries()) {
      const mine = chunks.filter((c) => c.rank === rank);
      expect(mine.map((c) => c.seq)).toEqual(mine.map((_c, i) => i));
      expect(mine.filter((c) => c.eof)).toEqual([mine[mine.length - 1]]);
      expect(mine[mine.length - 1]).toMatchObject({
        eof: true,
        exitCode: 0,
        leaseEpoch: 1,
        attempt: 1,
      });
      // Batched: 303 lines do not become 303 messages.
      expect(mine.length).toBeLessThan(50);
      const text = outputOf(chunks, rank);
      expect(text).toContain(`env ${jobId} 1 ${rank} 2 n1,n2 n1:29500\n`);
      const workDir = path.join(workRoot, nodeId, jobId, '1', String(rank));
      // Fresh: nothing in it but the attempt's own platform dir (outputs, progress: D4, D7).
      expect(text).toContain(`dir ${workDir} .gantry ${workDir}/.gantry/outputs\n`);
      const lines = text.split('\n').filter((l) => l.startsWith('line '));
      expect(lines).toEqual(Array.from({ length: 300 }, (_v, i) => `line ${i}`));
      expect(mine.find((c) => c.stream === 'stderr')?.data).toBe('oops\n');
      // Removed once the rank is over.
      await eventually('work dir removal', () => (existsSync(workDir) ? undefined : true));
    }
  });

  it('starts a lease it only learns of from a heartbeat reply', async () => {
    const [offer] = await leasedJob(['sh', '-c', 'echo from-heartbeat'], 1);
    scheduler.grant('n1', offer!, false);
    await waitForEvent(offer!.jobId, 'JobSucceeded');
    scheduler.revoke('n1', offer!.jobId);
    expect(outputOf(await readLogs(offer!.jobId), 0)).toBe('from-heartbeat\n');
  });

  it('stages an input into the work dir before the job starts', async () => {
    staged.set('file-data1', { body: 'hello input\n' });
    const inputs = [
      { name: 'data', ref: 'file-data1' },
      { name: 'cfg', ref: 'file-data1', path: 'conf/app.txt' },
    ];
    const [offer] = await leasedJob(['sh', '-c', 'cat inputs/data conf/app.txt'], 1, inputs);
    scheduler.grant('n1', offer!);
    await waitForEvent(offer!.jobId, 'JobSucceeded');
    scheduler.revoke('n1', offer!.jobId);
    expect(await eventTypes(offer!.jobId)).toContain('JobStagingStarted');
    expect(outputOf(await readLogs(offer!.jobId), 0)).toBe('hello input\nhello input\n');
  });

  it('fails the rank with exit 1 and says why when an input does not match its digest', async () => {
    staged.set('file-bad', { body: 'corrupt', tamper: true });
    const [offer] = await leasedJob(['sh', '-c', 'echo ran'], 1, [{ name: 'x', ref: 'file-bad' }]);
    scheduler.grant('n1', offer!);
    await waitForEvent(offer!.jobId, 'RankExited');
    scheduler.revoke('n1', offer!.jobId);
    const exited = (await bed.store.readStream(`job-${offer!.jobId}`)).find(
      (e) => e.type === 'RankExited',
    );
    expect(exited?.data).toMatchObject({ exitCode: 1 });
    const chunks = await readLogs(offer!.jobId);
    expect(chunks).toEqual([
      expect.objectContaining({
        seq: 0,
        stream: 'stderr',
        eof: true,
        exitCode: 1,
        data: expect.stringMatching(/sha256/),
      }),
    ]);
    expect(outputOf(chunks, 0)).not.toContain('ran');
  });

  it('kills the whole process tree on a KillAttempt and reports the exit', async () => {
    const [offer] = await leasedJob(['sh', '-c', 'sleep 300 & sleep 300; wait'], 1);
    const jobId = offer!.jobId;
    scheduler.grant('n1', offer!);
    const pid = await eventually(
      'the rank to start',
      () =>
        agents
          .get('n1')!
          .pids()
          .find((p) => p.jobId === jobId)?.pid,
    );
    await waitForEvent(jobId, 'JobStarted');
    expect(liveGroupMembers(pid).length).toBeGreaterThanOrEqual(2);

    await send('cancel', 'CancelJob', { jobId, reason: 'test' });
    scheduler.revoke('n1', jobId);
    scheduler.kill('n1', { tenant, jobId, leaseEpoch: 1, reason: 'cancelled' });
    await waitForEvent(jobId, 'JobCancelled');
    expect(liveGroupMembers(pid)).toEqual([]);
    const chunks = await readLogs(jobId);
    expect(chunks[chunks.length - 1]).toMatchObject({ eof: true, exitCode: 143 });
    const exited = (await bed.store.readStream(`job-${jobId}`)).find(
      (e) => e.type === 'RankExited',
    );
    expect(exited?.data).toMatchObject({ rank: 0, exitCode: 143, nodeId: 'n1' });
  });

  it('kills a rank at maxRuntimeSeconds and the job FAILS with that reason, not retried', async () => {
    const [offer] = await leasedJob(['sleep', '300'], 1, [], 1);
    const jobId = offer!.jobId;
    scheduler.grant('n1', offer!);
    await waitForEvent(jobId, 'JobFailed');
    const history = await bed.store.readStream(`job-${jobId}`);
    expect(history.map((e) => e.type).slice(-3)).toEqual([
      'RankExited',
      'AttemptFailed',
      'JobFailed',
    ]);
    expect(String(history.at(-1)!.data['reason'])).toMatch(/maxRuntimeSeconds \(1 s\)/);
    const chunks = await readLogs(jobId);
    expect(chunks.map((c) => c.data).join('')).toMatch(/killed at maxRuntimeSeconds/);
    scheduler.revoke('n1', jobId);
  });

  it('kills a rank whose lease the heartbeat reply no longer lists', async () => {
    const [offer] = await leasedJob(['sleep', '300'], 1);
    const jobId = offer!.jobId;
    scheduler.grant('n1', offer!);
    const pid = await eventually(
      'the rank to start',
      () =>
        agents
          .get('n1')!
          .pids()
          .find((p) => p.jobId === jobId)?.pid,
    );
    scheduler.revoke('n1', jobId);
    await waitForEvent(jobId, 'RankExited');
    expect(liveGroupMembers(pid)).toEqual([]);
    expect(logLines.some((l) => l.includes('"event":"lease-lost"') && l.includes(jobId))).toBe(
      true,
    );
  });

  it('after a crash, the next agent on the node stops the orphaned rank and reports it failed', async () => {
    const [offer] = await leasedJob(['sh', '-c', 'sleep 300 & sleep 300; wait'], 1);
    const jobId = offer!.jobId;
    scheduler.grant('n1', offer!);
    const crashed = agents.get('n1')!;
    const pid = await eventually(
      'the rank to start',
      () => crashed.pids().find((p) => p.jobId === jobId)?.pid,
    );
    await waitForEvent(jobId, 'JobStarted');
    // A crash: the agent goes away, its rank's processes do not.
    await crashed.close({ killRunning: false });
    expect(liveGroupMembers(pid).length).toBeGreaterThanOrEqual(2);

    const successor = await startAgent({
      ...testAgentOptions(bed, workRoot, 'n1'),
      log: (event, fields) => logLines.push(JSON.stringify({ node: 'n1', event, ...fields })),
    });
    agents.set('n1', successor);
    // Killed before the successor enrols; a SIGKILLed process is gone once the kernel reaps it.
    await eventually(
      'the orphaned processes to be gone',
      () => (liveGroupMembers(pid).length === 0 ? true : undefined),
      5_000,
    );
    await waitForEvent(jobId, 'AttemptFailed');
    const exited = (await bed.store.readStream(`job-${jobId}`)).find(
      (e) => e.type === 'RankExited',
    );
    expect(exited?.data).toMatchObject({ rank: 0, exitCode: 137, nodeId: 'n1' });
    // Still listed by the scheduler's reply, but finished here: it is not run a second time.
    expect(successor.pids().find((p) => p.jobId === jobId)).toBeUndefined();
    expect(existsSync(path.join(workRoot, 'n1', jobId, '1', '0'))).toBe(false);
    scheduler.revoke('n1', jobId);
  });

  it('ignores an offer under an epoch older than one it has seen for the job', async () => {
    const [stale] = await leasedJob(['sh', '-c', 'echo should-not-run'], 1);
    // A kill under epoch 2 tells n1 the job has moved on; epoch 1 is stale from then on.
    scheduler.kill('n1', { tenant, jobId: stale!.jobId, leaseEpoch: 2, reason: 'lease-lost' });
    scheduler.push('n1', stale!);
    // Messages on one subscription are handled in order: once this later offer has run, the
    // stale one has been seen and dropped.
    const [later] = await leasedJob(['true'], 1);
    scheduler.grant('n1', later!);
    await waitForEvent(later!.jobId, 'JobSucceeded');
    scheduler.revoke('n1', later!.jobId);

    expect(await eventTypes(stale!.jobId)).toEqual([
      'JobSubmitted',
      'JobAdmitted',
      'JobQueued',
      'JobLeased',
    ]);
    expect(await readLogs(stale!.jobId)).toEqual([]);
    expect(
      logLines.some((l) => l.includes('"event":"offer-fenced"') && l.includes(stale!.jobId)),
    ).toBe(true);
  });

  it('drops a malformed offer with a log line', async () => {
    bed.nc.publish(bed.subjects.node('n2', 'lease'), JSON.stringify({ jobId: 'x' }));
    bed.nc.publish(bed.subjects.node('n2', 'kill'), 'not json');
    await eventually('two drop log lines', () =>
      logLines.filter((l) => l.includes('"node":"n2"') && l.includes('"event":"message-dropped"'))
        .length >= 2
        ? true
        : undefined,
    );
    expect(agents.get('n2')!.running()).toEqual([]);
  });

  it('heartbeats with an increasing sequence and the node description', () => {
    const beats = scheduler.heartbeatsOf('n2');
    expect(beats.length).toBeGreaterThanOrEqual(2);
    expect(beats.map((b) => b.sequence)).toEqual(beats.map((_b, i) => beats[0]!.sequence + i));
    expect(beats[0]).toMatchObject({
      nodeToken: 'token-n2',
      pools: ['cpu'],
      capacity: { cpu: 2, memoryMiB: 1024, gpu: 0 },
    });
  });
});
