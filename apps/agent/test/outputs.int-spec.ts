import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type INestMicroservice } from '@nestjs/common';
import {
  ErrorCodes,
  isGantryError,
  type CreateFileReply,
  type EventEnvelope,
  type LeaseOffer,
  type OutputFile,
  type ResolveInputsReply,
} from '@gantry/contracts';
import { eventStoreMigrations } from '@gantry/event-store';
import { messagingMigrations, sendCommand } from '@gantry/messaging';
import { projectionMigrations, stagedFilesMigrations } from '@gantry/projections';
import {
  aCommandEnvelope,
  createServiceTestBed,
  type ServiceTestBed,
} from '@gantry/service-testing';
// The real controller, staging and admission (which charges staged bytes, B1), in-process: the
// test owns their lifetimes.
// eslint-disable-next-line @nx/enforce-module-boundaries -- a test-only seam
import { startAdmissionApp } from '../../admission/src/app';
// eslint-disable-next-line @nx/enforce-module-boundaries -- a test-only seam
import { startControllerApp } from '../../controller/src/app';
// eslint-disable-next-line @nx/enforce-module-boundaries -- a test-only seam
import { startStagingApp, type StagingApp } from '../../staging/src/app';
// eslint-disable-next-line @nx/enforce-module-boundaries -- a test-only seam
import { NatsBlobStore } from '../../staging/src/blob-store';
import { startAgent, type Agent } from '../src/agent';
import { natsInputResolver } from '../src/inputs';
import { natsFileCreator, type FileCreator } from '../src/outputs';
import { FakeScheduler, aCommand, anOffer, eventually, testAgentOptions } from './support';

/**
 * D4 and D7 end to end through a real agent, the real controller and real staging (Postgres,
 * NATS, its object store bucket): outputs stored under fresh refs, committed with the success
 * after the controller checked them against what staging holds; checkpoints handed to a retry.
 */
let bed: ServiceTestBed;
let controller: INestMicroservice;
let admission: INestMicroservice;
let staging: StagingApp;
let blobs: NatsBlobStore;
let scheduler: FakeScheduler;
let workRoot: string;
const agents: Agent[] = [];
const tenant = 'acme';
/** Swapped by a test that needs an agent to claim something the store does not hold. */
let creator: FileCreator;

beforeAll(async () => {
  bed = await createServiceTestBed({
    name: 'gantry_outputs',
    migrations: [
      ...eventStoreMigrations,
      ...messagingMigrations,
      ...projectionMigrations,
      ...stagedFilesMigrations,
    ],
  });
  controller = await startControllerApp({
    nats: bed.nc,
    subjects: bed.subjects,
    store: bed.store,
    logger: false,
  });
  admission = await startAdmissionApp({
    nats: bed.nc,
    subjects: bed.subjects,
    store: bed.store,
    logger: false,
  });
  await sendCommand(
    bed.nc,
    bed.subjects,
    'admission',
    'create-tenant',
    aCommandEnvelope(
      'CreateTenant',
      { id: tenant, name: tenant, quotas: {} },
      { tenant: '_system', actor: 'admin' },
    ),
    { timeoutMs: 15_000 },
  );
  blobs = await NatsBlobStore.open(bed.nc, bed.subjects);
  staging = await startStagingApp({
    nc: bed.nc,
    subjects: bed.subjects,
    pool: bed.pool,
    store: bed.store,
    blobs,
    http: {
      port: 0,
      host: '127.0.0.1',
      publicUrl: undefined,
      secret: 'outputs-int-secret',
      maxUploadBytes: 1024 * 1024,
    },
    logger: false,
  });
  scheduler = new FakeScheduler(bed.nc, bed.subjects);
  scheduler.start(['n1']);
  workRoot = mkdtempSync(path.join(os.tmpdir(), 'agent-outputs-'));
  chmodSync(workRoot, 0o711);
  const real = natsFileCreator(bed.nc, bed.subjects, 'agent:n1');
  creator = real;
  agents.push(
    await startAgent({
      ...testAgentOptions(bed, workRoot, 'n1'),
      progressPollMs: 100,
      inputResolver: natsInputResolver(bed.nc, bed.subjects, 'agent:n1'),
      fileCreator: (request) => creator(request),
    }),
  );
}, 60_000);

afterEach(() => {
  creator = natsFileCreator(bed.nc, bed.subjects, 'agent:n1');
});

afterAll(async () => {
  for (const agent of agents) await agent.close({ killRunning: true });
  scheduler?.stop();
  await controller?.close();
  await staging?.close();
  await admission?.close();
  await blobs?.destroy().catch(() => undefined);
  await bed?.close();
  if (workRoot) rmSync(workRoot, { recursive: true, force: true });
});

const send = <T = { jobId: string; state: string }>(
  verb: string,
  type: string,
  data: Record<string, unknown>,
) =>
  sendCommand<T>(bed.nc, bed.subjects, 'controller', verb, aCommand(tenant, type, data), {
    timeoutMs: 15_000,
  });

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

const submitted = async (command: string[], retry = { maxAttempts: 1 }): Promise<string> => {
  const spec = {
    command,
    resources: { cpu: 1, memoryMiB: 64 },
    retry: { ...retry, initialBackoffSeconds: 0.05, maxBackoffSeconds: 0.05 },
  };
  const { jobId } = await send('submit', 'SubmitJob', { spec, idempotencyKey: null });
  await send('admit', 'AdmitJob', { jobId });
  await send('queue', 'QueueJob', { jobId });
  return jobId;
};

/** Leases the job under `epoch` to n1 (once its backoff allows) and hands the agent the offer. */
const run = async (jobId: string, command: string[], epoch: number, attempt: number) => {
  const leaseExpiresAt = new Date(Date.now() + 30_000).toISOString();
  await eventually(`lease ${epoch} of ${jobId}`, () =>
    send('lease', 'LeaseJob', {
      jobId,
      leaseEpoch: epoch,
      nodes: [{ nodeId: 'n1', rank: 0 }],
      leaseExpiresAt,
    }).then(
      () => true,
      // Only a retry's backoff is worth waiting out; anything else is the test's failure.
      (err: unknown) => {
        if (isGantryError(err) && err.code === ErrorCodes.BACKOFF_NOT_ELAPSED) return undefined;
        throw err;
      },
    ),
  );
  const offer: LeaseOffer = anOffer({
    jobId,
    attempt,
    leaseEpoch: epoch,
    command,
    leaseExpiresAt,
  });
  scheduler.grant('n1', offer);
  return offer;
};

const history = (jobId: string): Promise<EventEnvelope[]> => bed.store.readStream(`job-${jobId}`);

const settled = (jobId: string) =>
  eventually(`${jobId} to finish`, async () => {
    const events = await history(jobId);
    const last = events[events.length - 1]?.type;
    return last === 'JobSucceeded' || last === 'JobDeadLettered' || last === 'JobFailed'
      ? events
      : undefined;
  });

/** The stored bytes behind a ref, through a signed URL as a tenant would fetch them. */
const download = async (ref: string): Promise<string> => {
  const { files } = await sendCommand<ResolveInputsReply>(
    bed.nc,
    bed.subjects,
    'staging',
    'resolve-inputs',
    aCommand(tenant, 'ResolveInputs', { jobId: 'test', refs: [ref] }),
    { timeoutMs: 15_000 },
  );
  const response = await fetch(files[0]!.url);
  return response.text();
};

describe('outputs (D4)', () => {
  it('commits what rank 0 left in GANTRY_OUTPUT_DIR with the success, as staging stored it', async () => {
    const command = [
      'sh',
      '-c',
      'printf model > "$GANTRY_OUTPUT_DIR/model.bin"; printf "{\\"loss\\":1}" > "$GANTRY_OUTPUT_DIR/metrics.json"; mkdir "$GANTRY_OUTPUT_DIR/sub"',
    ];
    const jobId = await submitted(command);
    await run(jobId, command, 1, 1);
    const events = await settled(jobId);
    scheduler.revoke('n1', jobId);

    expect(events.map((e) => e.type).slice(-3)).toEqual([
      'RankExited',
      'OutputsCommitted',
      'JobSucceeded',
    ]);
    const outputs = events.find((e) => e.type === 'OutputsCommitted')!.data[
      'outputs'
    ] as OutputFile[];
    expect(outputs.map(({ name, size, sha256 }) => ({ name, size, sha256 }))).toEqual([
      { name: 'metrics.json', size: 10, sha256: sha('{"loss":1}') },
      { name: 'model.bin', size: 5, sha256: sha('model') },
    ]);
    expect(await download(outputs[1]!.ref)).toBe('model');
  });

  it('fails the attempt, committing nothing, when an output is not what the store holds', async () => {
    const decoy = await sendCommand<CreateFileReply>(
      bed.nc,
      bed.subjects,
      'staging',
      'create-file',
      aCommand(tenant, 'CreateFile', { name: 'decoy.bin' }),
      { timeoutMs: 15_000 },
    );
    await fetch(decoy.uploadUrl, { method: 'PUT', body: 'not the model' });
    // An agent that claims its output is the decoy: the controller asks staging, not the agent.
    const real = creator;
    creator = async (request) => ({ ...(await real(request)), ref: decoy.fileId });
    const command = ['sh', '-c', 'printf model > "$GANTRY_OUTPUT_DIR/model.bin"'];
    const jobId = await submitted(command);
    await run(jobId, command, 1, 1);
    const events = await settled(jobId);
    scheduler.revoke('n1', jobId);

    const types = events.map((e) => e.type);
    expect(types).not.toContain('OutputsCommitted');
    expect(types.slice(-3)).toEqual(['RankExited', 'AttemptFailed', 'JobDeadLettered']);
  });

  it('never commits a zombie attempt: its report under the old epoch is refused', async () => {
    // Attempt 1 writes its output only once told to go on, after its lease has been reaped.
    const gate = path.join(workRoot, `go-${Date.now()}`);
    const slow = [
      'sh',
      '-c',
      `while [ ! -e ${gate} ]; do sleep 0.05; done; printf zombie > "$GANTRY_OUTPUT_DIR/out.txt"`,
    ];
    const jobId = await submitted(slow, { maxAttempts: 2 });
    await run(jobId, slow, 1, 1);
    await eventually('attempt 1 running', async () =>
      (await history(jobId)).some((e) => e.type === 'JobStarted') ? true : undefined,
    );
    await send('expire-lease', 'ExpireLease', { jobId, leaseEpoch: 1, retryJitter: 0 });
    // The fake scheduler still lists epoch 1, so nothing tells the agent: a zombie, which now
    // finishes, stores its output and reports it.
    writeFileSync(gate, '');
    await agents[0]!.idle();
    const fast = ['sh', '-c', 'printf live > "$GANTRY_OUTPUT_DIR/out.txt"'];
    await run(jobId, fast, 2, 2);
    const events = await settled(jobId);
    scheduler.revoke('n1', jobId);

    const committed = events.filter((e) => e.type === 'OutputsCommitted');
    expect(committed.map((e) => e.data['leaseEpoch'])).toEqual([2]);
    const [output] = committed[0]!.data['outputs'] as OutputFile[];
    expect(await download(output!.ref)).toBe('live');
    expect(events.some((e) => e.type === 'RankExited' && e.data['leaseEpoch'] === 1)).toBe(false);
    // The zombie did store its bytes, under a ref of its own that nothing commits.
    const { rows } = await bed.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM staged_files WHERE tenant = $1 AND name = 'out.txt' AND state = 'READY'`,
      [tenant],
    );
    expect(rows[0]!.n).toBe(2);
  });
});

describe('checkpoints (D7)', () => {
  it('hands the last checkpoint to the retry, which resumes from it and succeeds', async () => {
    const command = [
      'sh',
      '-c',
      [
        'if [ -n "$GANTRY_CHECKPOINT" ]; then cp "$GANTRY_CHECKPOINT" "$GANTRY_OUTPUT_DIR/resumed-from.txt"; exit 0; fi',
        'echo "{\\"progress\\":0.5}" >> "$GANTRY_PROGRESS_FILE"',
        'printf step-100 > ckpt.bin',
        'echo "{\\"checkpoint\\":\\"ckpt.bin\\"}" >> "$GANTRY_PROGRESS_FILE"',
        'exit 3',
      ].join('; '),
    ];
    const jobId = await submitted(command, { maxAttempts: 2 });
    await run(jobId, command, 1, 1);
    await eventually('attempt 1 to fail', async () =>
      (await history(jobId)).some((e) => e.type === 'JobRetryScheduled') ? true : undefined,
    );
    scheduler.revoke('n1', jobId);
    await run(jobId, command, 2, 2);
    const events = await settled(jobId);
    scheduler.revoke('n1', jobId);

    const types = events.map((e) => e.type);
    expect(types.indexOf('JobCheckpointed')).toBeLessThan(types.indexOf('AttemptFailed'));
    expect(events.find((e) => e.type === 'JobProgressed')?.data).toMatchObject({
      attempt: 1,
      progress: 0.5,
    });
    const checkpoint = events.find((e) => e.type === 'JobCheckpointed')!.data;
    expect(checkpoint).toMatchObject({
      attempt: 1,
      checkpoint: { name: 'ckpt.bin', size: 8, sha256: sha('step-100') },
    });
    expect(types.slice(-2)).toEqual(['OutputsCommitted', 'JobSucceeded']);
    const [resumed] = events.find((e) => e.type === 'OutputsCommitted')!.data[
      'outputs'
    ] as OutputFile[];
    expect(resumed).toMatchObject({ name: 'resumed-from.txt', sha256: sha('step-100') });
  });
});
