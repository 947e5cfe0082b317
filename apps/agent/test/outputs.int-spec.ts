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
  type LogChunk,
  type OutputFile,
  type ResolveInputsReply,
} from '@gantry/contracts';
import { eventStoreMigrations } from '@gantry/event-store';
import { messagingMigrations, sendCommand, streamNames } from '@gantry/messaging';
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
import {
  FakeScheduler,
  aCommand,
  anOffer,
  controllerCommand,
  eventually,
  testAgentOptions,
} from './support';

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
  scheduler.start(['n1', 'n2']);
  workRoot = mkdtempSync(path.join(os.tmpdir(), 'agent-outputs-'));
  chmodSync(workRoot, 0o711);
  const real = natsFileCreator(bed.nc, bed.subjects, 'agent:n1');
  creator = real;
  // n2 is rank 1 of the gangs; the other tests run on n1 alone.
  for (const nodeId of ['n1', 'n2'])
    agents.push(
      await startAgent({
        ...testAgentOptions(bed, workRoot, nodeId),
        progressPollMs: 100,
        inputResolver: natsInputResolver(bed.nc, bed.subjects, `agent:${nodeId}`),
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
): Promise<T> => controllerCommand(bed.nc, bed.subjects, tenant)<T>(verb, type, data);

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

const submitted = async (
  command: string[],
  retry = { maxAttempts: 1 },
  more: { nodes?: number; outputs?: { name: string; path: string }[] } = {},
): Promise<string> => {
  const spec = {
    command,
    resources: { cpu: 1, memoryMiB: 64 },
    retry: { ...retry, initialBackoffSeconds: 0.05, maxBackoffSeconds: 0.05 },
    ...more,
  };
  const { jobId } = await send('submit', 'SubmitJob', { spec, idempotencyKey: null });
  await send('admit', 'AdmitJob', { jobId });
  await send('queue', 'QueueJob', { jobId });
  return jobId;
};

/**
 * Leases the job under `epoch` to `nodes` by rank (once its backoff allows) and hands each agent
 * its rank's offer, with `more` (the scheduler puts the spec's declared outputs there).
 */
const run = async (
  jobId: string,
  command: string[],
  epoch: number,
  attempt: number,
  more: Partial<LeaseOffer> = {},
  nodes: readonly string[] = ['n1'],
) => {
  const leaseExpiresAt = new Date(Date.now() + 30_000).toISOString();
  await eventually(`lease ${epoch} of ${jobId}`, () =>
    send('lease', 'LeaseJob', {
      jobId,
      leaseEpoch: epoch,
      nodes: nodes.map((nodeId, rank) => ({ nodeId, rank })),
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
  const offers = nodes.map((nodeId, rank) =>
    anOffer({
      jobId,
      attempt,
      leaseEpoch: epoch,
      rank,
      worldSize: nodes.length,
      hosts: [...nodes],
      coordinator: `${nodes[0]}:29500`,
      command,
      leaseExpiresAt,
      ...more,
    }),
  );
  offers.forEach((offer, rank) => scheduler.grant(nodes[rank]!, offer));
  return offers[0]!;
};

/** Every log chunk of the job, in stream order. */
const readLogs = async (jobId: string): Promise<LogChunk[]> => {
  const stream = streamNames(bed.subjects).logs;
  const info = await bed.jsm.streams.info(stream);
  const chunks: LogChunk[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const msg = await bed.jsm.streams.getMessage(stream, { seq }).catch(() => null);
    const chunk = msg?.json<LogChunk>();
    if (chunk?.jobId === jobId) chunks.push(chunk);
  }
  return chunks;
};

const committedOutputs = (events: readonly EventEnvelope[]): OutputFile[] =>
  (events.find((e) => e.type === 'OutputsCommitted')?.data['outputs'] as OutputFile[]) ?? [];

/** What the job's attempts stored in staging, by name (whether committed or not). */
const storedNames = async (jobId: string): Promise<string[]> => {
  const { rows } = await bed.pool.query<{ name: string }>(
    `SELECT data->>'name' AS name FROM events
      WHERE type = 'FileCreated' AND data->'producedBy'->>'jobId' = $1
      ORDER BY global_position`,
    [jobId],
  );
  return rows.map((r) => r.name);
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

describe('every rank, and the declared outputs (D4)', () => {
  it("commits every rank's output files together: rank 0's under their names, rank 1's apart", async () => {
    const command = [
      'sh',
      '-c',
      'printf "part $GANTRY_RANK" > "$GANTRY_OUTPUT_DIR/part.txt"; [ "$GANTRY_RANK" = 1 ] || printf summary > "$GANTRY_OUTPUT_DIR/summary.txt"',
    ];
    const jobId = await submitted(command, { maxAttempts: 1 }, { nodes: 2 });
    await run(jobId, command, 1, 1, {}, ['n1', 'n2']);
    const events = await settled(jobId);
    scheduler.revoke('n1', jobId);
    scheduler.revoke('n2', jobId);

    expect(events.map((e) => e.type).slice(-2)).toEqual(['OutputsCommitted', 'JobSucceeded']);
    const outputs = committedOutputs(events);
    expect(
      outputs
        .map(({ name, sha256 }) => ({ name, sha256 }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    ).toEqual([
      { name: 'part.txt', sha256: sha('part 0') },
      { name: 'rank1-part.txt', sha256: sha('part 1') },
      { name: 'summary.txt', sha256: sha('summary') },
    ]);
    expect(await download(outputs.find((o) => o.name === 'rank1-part.txt')!.ref)).toBe('part 1');
    // Each rank's RankExited carries its own files, verified before the commit.
    const exits = events.filter((e) => e.type === 'RankExited');
    expect(
      exits.map((e) => [e.data['rank'], (e.data['outputs'] as OutputFile[]).map((o) => o.name)]),
    ).toEqual(
      expect.arrayContaining([
        [0, ['part.txt', 'summary.txt']],
        [1, ['rank1-part.txt']],
      ]),
    );
  });

  it("fails the attempt when rank 0 wrote a file named like rank 1's: no output is committed twice", async () => {
    // Rank 1 reports only once rank 0's exit (with its clashing rank1-part.txt) is recorded.
    const command = [
      'sh',
      '-c',
      'if [ "$GANTRY_RANK" = 0 ]; then printf mine > "$GANTRY_OUTPUT_DIR/rank1-part.txt"; else sleep 2; printf theirs > "$GANTRY_OUTPUT_DIR/part.txt"; fi',
    ];
    const jobId = await submitted(command, { maxAttempts: 1 }, { nodes: 2 });
    await run(jobId, command, 1, 1, {}, ['n1', 'n2']);
    const events = await settled(jobId);
    scheduler.revoke('n1', jobId);
    scheduler.revoke('n2', jobId);

    const types = events.map((e) => e.type);
    expect(types).not.toContain('OutputsCommitted');
    expect(types.slice(-2)).toEqual(['AttemptFailed', 'JobDeadLettered']);
    // The clashing report (normally rank 1's, the later) was refused whole; that rank's exit was
    // then recorded as a failure without outputs.
    const exits = events.filter((e) => e.type === 'RankExited');
    expect(exits.map((e) => e.data['exitCode']).sort()).toEqual([0, 1]);
    expect(exits.find((e) => e.data['exitCode'] === 1)!.data['outputs']).toEqual([]);
  });

  it('collects the declared outputs from the work dir with those of GANTRY_OUTPUT_DIR', async () => {
    const command = [
      'sh',
      '-c',
      'mkdir -p out; printf weights > out/model.pt; printf "{}" > "$GANTRY_OUTPUT_DIR/metrics.json"',
    ];
    const declared = [{ name: 'model', path: 'out/model.pt' }];
    const jobId = await submitted(command, { maxAttempts: 1 }, { outputs: declared });
    await run(jobId, command, 1, 1, { outputs: declared });
    const events = await settled(jobId);
    scheduler.revoke('n1', jobId);

    expect(events.map((e) => e.type).slice(-2)).toEqual(['OutputsCommitted', 'JobSucceeded']);
    const outputs = committedOutputs(events);
    expect(outputs.map(({ name, size, sha256 }) => ({ name, size, sha256 }))).toEqual([
      { name: 'metrics.json', size: 2, sha256: sha('{}') },
      { name: 'model', size: 7, sha256: sha('weights') },
    ]);
    expect(await download(outputs[1]!.ref)).toBe('weights');
    // Stored as the attempt's files (create-attempt-file), which is what staging's sweep reads.
    expect((await storedNames(jobId)).sort()).toEqual(['metrics.json', 'model']);
  });

  it('fails the rank, saying why on stderr and storing nothing, when a declared output is missing', async () => {
    const command = ['sh', '-c', 'printf "{}" > "$GANTRY_OUTPUT_DIR/metrics.json"'];
    const declared = [
      { name: 'model', path: 'out/model.pt' },
      { name: 'vocab', path: 'vocab.txt' },
    ];
    const jobId = await submitted(command, { maxAttempts: 1 }, { outputs: declared });
    await run(jobId, command, 1, 1, { outputs: declared });
    const events = await settled(jobId);
    scheduler.revoke('n1', jobId);

    const types = events.map((e) => e.type);
    expect(types).not.toContain('OutputsCommitted');
    expect(types.slice(-3)).toEqual(['RankExited', 'AttemptFailed', 'JobDeadLettered']);
    expect(events.find((e) => e.type === 'RankExited')!.data['exitCode']).toBe(1);
    const chunks = await readLogs(jobId);
    const stderr = chunks
      .filter((c) => c.stream === 'stderr')
      .map((c) => c.data)
      .join('');
    expect(stderr).toContain(
      'gantry: declared outputs not produced: model (out/model.pt) is missing; vocab (vocab.txt) is missing',
    );
    expect(chunks.find((c) => c.eof)?.exitCode).toBe(1);
    expect(await storedNames(jobId)).toEqual([]);
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
