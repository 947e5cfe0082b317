import { createHash, randomBytes } from 'node:crypto';
import { Client } from 'pg';
import {
  ErrorCodes,
  JobSpecSchema,
  streamIdOf,
  type CommandEnvelope,
  type CreateFileReply,
  type EventEnvelope,
} from '@gantry/contracts';
import { sendCommand } from '@gantry/messaging';
import { readStagedFile } from '@gantry/projections';
import { aCommandEnvelope, refusalOf, type ServiceTestBed } from '@gantry/service-testing';
import { type StagingApp } from '../src/app';
import { type NatsBlobStore } from '../src/blob-store';
import { startStagingTestBed, type StagingTestBed } from './support';

/**
 * D4's orphan sweep on real Postgres and NATS: an attempt's file that its job never committed,
 * and that no live lease can commit any more, is deleted once the grace period is over (bytes,
 * storage charge, and a FileDeleted on its stream); committed outputs, files a live lease may
 * still commit and tenants' own uploads are kept. Job histories are given, appended by hand:
 * staging only reads them.
 */
const GRACE_MS = 60_000;
const tenant = 'metered';
let staging: StagingTestBed;
let bed: ServiceTestBed;
let app: StagingApp;
let blobs: NatsBlobStore;
let now = Date.parse('2026-11-23T10:00:00.000Z');
const iso = () => new Date(now).toISOString();

beforeAll(async () => {
  staging = await startStagingTestBed({
    name: 'gantry_stg_orphans',
    tenants: { [tenant]: { storageBytes: 1_000_000 } },
    secret: 'orphans-int-secret',
    maxUploadBytes: 64 * 1024,
    clock: () => new Date(now),
    // Swept by the tests, not by a timer.
    orphans: { graceMs: GRACE_MS, intervalMs: 0 },
  });
  ({ bed, app, blobs } = staging);
}, 60_000);

afterAll(() => staging?.close());

const command = (type: string, data: Record<string, unknown>, actor: string): CommandEnvelope =>
  aCommandEnvelope(type, data, { tenant, actor });

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A READY file: an attempt's (create-attempt-file, as the agent stores one) or the tenant's. */
const stored = async (
  madeBy: { jobId: string; leaseEpoch: number } | 'tenant',
  bytes: Uint8Array = randomBytes(1_000),
): Promise<{ fileId: string; size: number; sha256: string }> => {
  const announced = { name: 'out.bin', size: bytes.length, sha256: sha256(bytes) };
  const { fileId, uploadUrl } = await sendCommand<CreateFileReply>(
    bed.nc,
    bed.subjects,
    'staging',
    madeBy === 'tenant' ? 'create-file' : 'create-attempt-file',
    madeBy === 'tenant'
      ? command('CreateFile', announced, 'key:metered')
      : command('CreateAttemptFile', { ...announced, ...madeBy }, 'agent:n1'),
    { timeoutMs: 15_000 },
  );
  const res = await fetch(uploadUrl, { method: 'PUT', body: bytes });
  expect(res.status).toBe(200);
  return { fileId, size: announced.size, sha256: announced.sha256 };
};

/** A job's history up to a lease of epoch 1, which `end` then ends (or leaves live). */
const givenJob = async (
  jobId: string,
  end: { succeededWith: { fileId: string; size: number; sha256: string }[] } | 'live',
): Promise<void> => {
  const metadata = { tenant, causationId: null, correlationId: `job-${jobId}`, actor: 'test' };
  const events: { type: string; data: Record<string, unknown> }[] = [
    {
      type: 'JobSubmitted',
      data: {
        jobId,
        spec: JobSpecSchema.parse({ command: ['true'], resources: { cpu: 1, memoryMiB: 64 } }),
        idempotencyKey: null,
        submittedAt: iso(),
      },
    },
    { type: 'JobAdmitted', data: { jobId, admittedAt: iso() } },
    { type: 'JobQueued', data: { jobId, queuedAt: iso() } },
    {
      type: 'JobLeased',
      data: {
        jobId,
        attempt: 1,
        leaseEpoch: 1,
        nodes: [{ nodeId: 'n1', rank: 0 }],
        leaseExpiresAt: new Date(now + 3_600_000).toISOString(),
        leasedAt: iso(),
      },
    },
    {
      type: 'JobStarted',
      data: { jobId, attempt: 1, leaseEpoch: 1, startedAt: iso() },
    },
  ];
  if (end !== 'live') {
    const outputs = end.succeededWith.map((f, i) => ({
      name: `out-${i}.bin`,
      ref: f.fileId,
      size: f.size,
      sha256: f.sha256,
    }));
    events.push(
      {
        type: 'RankExited',
        data: {
          jobId,
          attempt: 1,
          leaseEpoch: 1,
          rank: 0,
          nodeId: 'n1',
          exitCode: 0,
          outputs,
          exitedAt: iso(),
        },
      },
      {
        type: 'OutputsCommitted',
        data: { jobId, attempt: 1, leaseEpoch: 1, outputs, committedAt: iso() },
      },
      {
        type: 'JobSucceeded',
        data: { jobId, attempt: 1, leaseEpoch: 1, exitCodes: [0], succeededAt: iso() },
      },
    );
  }
  await bed.store.append(
    streamIdOf('job', jobId),
    'no_stream',
    events.map((e) => ({ ...e, metadata })),
  );
};

const typesOf = async (fileId: string) =>
  (await bed.store.readStream(fileId)).map((e: EventEnvelope) => e.type);

const objectOf = async (fileId: string): Promise<string> =>
  (await bed.store.readStream(fileId)).find((e) => e.type === 'FileUploaded')!.data[
    'objectName'
  ] as string;

const releasedFiles = async (): Promise<Record<string, unknown>[]> =>
  (await bed.store.readStream(streamIdOf('tenant', tenant)))
    .filter((e) => e.type === 'StorageReleased')
    .map((e) => e.data);

const storageBytes = async (): Promise<number> => {
  const events = await bed.store.readStream(streamIdOf('tenant', tenant));
  const last = events
    .filter((e) => e.type === 'StorageCharged' || e.type === 'StorageReleased')
    .at(-1);
  return (last?.data['storageBytes'] as number | undefined) ?? 0;
};

describe('the orphan sweep (D4)', () => {
  it("deletes an attempt's uncommitted file once its lease is over, and keeps everything else", async () => {
    const committed = await stored({ jobId: 'j-done', leaseEpoch: 1 });
    const orphan = await stored({ jobId: 'j-done', leaseEpoch: 1 }, randomBytes(4_000));
    const pending = await stored({ jobId: 'j-live', leaseEpoch: 1 });
    const own = await stored('tenant');
    await givenJob('j-done', { succeededWith: [committed] });
    await givenJob('j-live', 'live');
    const orphanObject = await objectOf(orphan.fileId);
    const charged = await storageBytes();

    // Within the grace period nothing is touched, orphan or not.
    expect(await app.sweepOrphans()).toEqual({ ran: true, deleted: [] });

    now += GRACE_MS + 1_000;
    expect(await app.sweepOrphans()).toEqual({ ran: true, deleted: [orphan.fileId] });

    // The orphan: its stream says so and why, its bytes are gone, its charge released.
    const [deleted] = (await bed.store.readStream(orphan.fileId)).slice(-1);
    expect(deleted).toMatchObject({
      type: 'FileDeleted',
      data: { fileId: orphan.fileId, deletedAt: iso() },
    });
    expect(deleted!.data['reason']).toContain('j-done');
    expect(await blobs.names()).not.toContain(orphanObject);
    expect(await releasedFiles()).toEqual([
      expect.objectContaining({ fileId: orphan.fileId, bytes: 4_000 }),
    ]);
    expect(await storageBytes()).toBe(charged - 4_000);
    expect(await readStagedFile(bed.pool, tenant, orphan.fileId)).toBeNull();
    const refused = await refusalOf(
      sendCommand(
        bed.nc,
        bed.subjects,
        'staging',
        'resolve-inputs',
        command('ResolveInputs', { jobId: 'j-next', refs: [orphan.fileId] }, 'agent:n1'),
        { timeoutMs: 15_000 },
      ),
    );
    expect(refused.code).toBe(ErrorCodes.NOT_FOUND);

    // The committed output, a file a live lease may still commit, and the tenant's own upload.
    for (const kept of [committed, pending, own]) {
      expect(await typesOf(kept.fileId)).toEqual(['FileCreated', 'FileUploaded']);
      expect(await readStagedFile(bed.pool, tenant, kept.fileId)).toMatchObject({
        state: 'READY',
      });
      expect(await blobs.names()).toContain(await objectOf(kept.fileId));
    }

    // A second pass finds nothing more to do.
    expect(await app.sweepOrphans()).toEqual({ ran: true, deleted: [] });
  });

  it('does nothing while another replica holds the sweep', async () => {
    const orphan = await stored({ jobId: 'j-gone', leaseEpoch: 1 });
    now += GRACE_MS + 1_000;
    const other = new Client({ connectionString: bed.db.url });
    await other.connect();
    try {
      await other.query("SELECT pg_advisory_lock($1, hashtext('staging-orphans'))", [0x6773_7467]);
      expect(await app.sweepOrphans()).toEqual({ ran: false, deleted: [] });
      expect(await typesOf(orphan.fileId)).toEqual(['FileCreated', 'FileUploaded']);
    } finally {
      await other.end();
    }
    // A job that never existed can commit nothing: once the lock is free, the file goes.
    expect(await app.sweepOrphans()).toEqual({ ran: true, deleted: [orphan.fileId] });
  });
});
