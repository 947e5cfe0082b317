import { createHash, randomBytes } from 'node:crypto';
import {
  ErrorCodes,
  type CommandEnvelope,
  type CreateFileReply,
  type ResolveInputsReply,
} from '@gantry/contracts';
import { sendCommand } from '@gantry/messaging';
import { readStagedFile } from '@gantry/projections';
import { aCommandEnvelope, refusalOf, type ServiceTestBed } from '@gantry/service-testing';
import { type StagingApp } from '../src/app';
import { type NatsBlobStore } from '../src/blob-store';
import { startStagingTestBed, type StagingTestBed } from './support';

/** Staging in-process on real Postgres and NATS: its commands over NATS, its blobs over HTTP. */
const MAX_UPLOAD = 64 * 1024;
let staging: StagingTestBed;
let bed: ServiceTestBed;
let app: StagingApp;
let blobs: NatsBlobStore;
/** Moved forward by the expiry tests; everything else runs at a fixed instant. */
let now = Date.parse('2026-11-23T10:00:00.000Z');

beforeAll(async () => {
  staging = await startStagingTestBed({
    name: 'gantry_stg',
    tenants: { acme: {}, globex: {}, metered: { storageBytes: 10_000, ingressBytes: 20_000 } },
    secret: 'int-test-secret',
    maxUploadBytes: MAX_UPLOAD,
    clock: () => new Date(now),
  });
  ({ bed, app, blobs } = staging);
}, 60_000);

afterAll(() => staging?.close());

const command = (type: string, data: Record<string, unknown>, tenant = 'acme'): CommandEnvelope =>
  aCommandEnvelope(type, data, { tenant, actor: `key:${tenant}` });

const createFile = (data: Record<string, unknown>, tenant = 'acme') =>
  sendCommand<CreateFileReply>(
    bed.nc,
    bed.subjects,
    'staging',
    'create-file',
    command('CreateFile', data, tenant),
    { timeoutMs: 15_000 },
  );

const resolveInputs = (refs: string[], tenant = 'acme') =>
  sendCommand<ResolveInputsReply>(
    bed.nc,
    bed.subjects,
    'staging',
    'resolve-inputs',
    command('ResolveInputs', { jobId: 'job-1', refs }, tenant),
    { timeoutMs: 15_000 },
  );

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

const put = (url: string, bytes: Uint8Array) =>
  fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });

/** A READY file of acme's with the given bytes, and the bytes. */
const stagedFile = async (
  bytes: Uint8Array = randomBytes(5_000),
  tenant = 'acme',
): Promise<{ fileId: string; bytes: Uint8Array }> => {
  const { fileId, uploadUrl } = await createFile({ name: 'input.bin' }, tenant);
  const res = await put(uploadUrl, bytes);
  expect(res.status).toBe(200);
  return { fileId, bytes };
};

const withQuery = (url: string, change: (q: URLSearchParams) => void): string => {
  const parsed = new URL(url);
  change(parsed.searchParams);
  return parsed.toString();
};

describe('create, upload, resolve, download', () => {
  it('gives back the same bytes, with the same digest, through the resolved URL', async () => {
    const bytes = randomBytes(40_000);
    const created = await createFile({
      name: 'data.bin',
      size: bytes.length,
      sha256: sha256(bytes),
    });
    expect(created.fileId).toMatch(/^file-[0-9a-f]{32}$/);
    expect(created.uploadUrl.startsWith(`${app.url}/blobs/${created.fileId}?`)).toBe(true);
    expect(await readStagedFile(bed.pool, 'acme', created.fileId)).toMatchObject({
      state: 'PENDING_UPLOAD',
      name: 'data.bin',
    });

    const uploaded = await put(created.uploadUrl, bytes);
    expect(uploaded.status).toBe(200);
    expect(await uploaded.json()).toEqual({
      fileId: created.fileId,
      state: 'READY',
      size: bytes.length,
      sha256: sha256(bytes),
    });
    expect(await readStagedFile(bed.pool, 'acme', created.fileId)).toMatchObject({
      state: 'READY',
      size: bytes.length,
      sha256: sha256(bytes),
    });

    const { files } = await resolveInputs([created.fileId]);
    expect(files).toEqual([
      {
        ref: created.fileId,
        url: expect.stringContaining(`/blobs/${created.fileId}?`),
        sha256: sha256(bytes),
        size: bytes.length,
        expiresAt: new Date(now + 10 * 60_000).toISOString(),
      },
    ]);
    const download = await fetch(files[0]!.url);
    expect(download.status).toBe(200);
    const body = new Uint8Array(await download.arrayBuffer());
    expect(sha256(body)).toBe(sha256(bytes));
    expect(Buffer.compare(body, bytes)).toBe(0);
  });

  it('resolves several refs in the order asked', async () => {
    const a = await stagedFile();
    const b = await stagedFile();
    const { files } = await resolveInputs([b.fileId, a.fileId]);
    expect(files.map((f) => [f.ref, f.sha256])).toEqual([
      [b.fileId, sha256(b.bytes)],
      [a.fileId, sha256(a.bytes)],
    ]);
  });

  it('refuses the URL of one file used for another, and keeps the first bytes', async () => {
    const { fileId, bytes } = await stagedFile();
    const events = await bed.store.readStream(fileId);
    // A fresh upload URL for the same file, as if the tenant kept the first one.
    const again = await put(
      (await createFile({ name: 'other' })).uploadUrl.replace(/file-[0-9a-f]{32}/, fileId),
      randomBytes(10),
    );
    expect(again.status).toBe(403);
    const { files } = await resolveInputs([fileId]);
    expect(files[0]!.sha256).toBe(sha256(bytes));
    expect(await bed.store.readStream(fileId)).toHaveLength(events.length);
  });

  it('refuses to re-upload through the original URL with 409', async () => {
    const bytes = randomBytes(100);
    const { fileId, uploadUrl } = await createFile({ name: 'once.bin' });
    expect((await put(uploadUrl, bytes)).status).toBe(200);
    const second = await put(uploadUrl, randomBytes(100));
    expect(second.status).toBe(409);
    expect(((await second.json()) as { code: string }).code).toBe(ErrorCodes.ILLEGAL_TRANSITION);
    expect((await resolveInputs([fileId])).files[0]!.sha256).toBe(sha256(bytes));
  });

  it('refuses an upload that does not match the announced digest, and stays uploadable', async () => {
    const bytes = randomBytes(100);
    const { fileId, uploadUrl } = await createFile({ name: 'x', sha256: sha256(randomBytes(1)) });
    const res = await put(uploadUrl, bytes);
    expect(res.status).toBe(400);
    expect(await readStagedFile(bed.pool, 'acme', fileId)).toMatchObject({
      state: 'PENDING_UPLOAD',
    });
    expect(await bed.store.readStream(fileId)).toHaveLength(1);
    expect((await blobs.names()).filter((name) => name.startsWith(fileId))).toEqual([]);
  });

  it('refuses an upload over the size limit with 413 and records nothing', async () => {
    const { fileId, uploadUrl } = await createFile({ name: 'big' });
    const res = await put(uploadUrl, randomBytes(MAX_UPLOAD + 1));
    expect(res.status).toBe(413);
    expect(await bed.store.readStream(fileId)).toHaveLength(1);
    expect((await blobs.names()).filter((name) => name.startsWith(fileId))).toEqual([]);
  });
});

describe('signed URLs', () => {
  it('refuses a tampered signature, expiry, method or file with 403', async () => {
    const { fileId } = await stagedFile();
    const other = await stagedFile();
    const { url } = (await resolveInputs([fileId])).files[0]!;
    const tampered = [
      withQuery(url, (q) =>
        q.set('sig', `${q.get('sig')![0] === 'A' ? 'B' : 'A'}${q.get('sig')!.slice(1)}`),
      ),
      withQuery(url, (q) => q.set('expires', String(Number(q.get('expires')) + 3600))),
      withQuery(url, (q) => q.delete('sig')),
      url.replace(fileId, other.fileId),
    ];
    for (const bad of tampered) expect((await fetch(bad)).status).toBe(403);
    // A download URL is not an upload URL.
    expect((await put(url, randomBytes(3))).status).toBe(403);
    expect((await fetch(url)).status).toBe(200);
  });

  it('refuses an expired URL with 403', async () => {
    const { fileId } = await stagedFile();
    const { url } = (await resolveInputs([fileId])).files[0]!;
    const start = now;
    now += 10 * 60_000 + 1_000;
    try {
      expect((await fetch(url)).status).toBe(403);
    } finally {
      now = start;
    }
  });
});

describe('tenancy and refusals', () => {
  it("refuses another tenant's file as if it did not exist", async () => {
    const { fileId } = await stagedFile(randomBytes(10), 'globex');
    expect(await refusalOf(resolveInputs([fileId], 'acme'))).toEqual({
      code: ErrorCodes.NOT_FOUND,
      retryable: false,
    });
    expect(await readStagedFile(bed.pool, 'acme', fileId)).toBeNull();
    expect((await resolveInputs([fileId], 'globex')).files).toHaveLength(1);
  });

  it.each([
    ['an unknown file', `file-${'0'.repeat(32)}`],
    ['something that is not a file id', 's3://bucket/key'],
  ])('refuses %s naming the ref', async (_name, ref) => {
    const good = await stagedFile();
    await expect(resolveInputs([good.fileId, ref])).rejects.toMatchObject({
      code: ErrorCodes.NOT_FOUND,
      details: { ref },
    });
  });

  it('refuses a file that has not been uploaded yet', async () => {
    const { fileId } = await createFile({ name: 'later' });
    await expect(resolveInputs([fileId])).rejects.toMatchObject({
      code: ErrorCodes.NOT_FOUND,
      details: { ref: fileId, state: 'PENDING_UPLOAD' },
    });
  });

  it('refuses a bad create-file without writing anything', async () => {
    const before = await bed.pool.query('SELECT count(*)::int AS n FROM events');
    for (const data of [
      { name: '../etc/passwd' },
      { name: 'x', size: -1 },
      { name: 'x', extra: 1 },
    ]) {
      expect((await refusalOf(createFile(data))).code).toBe(ErrorCodes.VALIDATION_FAILED);
    }
    expect((await bed.pool.query('SELECT count(*)::int AS n FROM events')).rows).toEqual(
      before.rows,
    );
  });

  it('charges uploaded bytes to storage and ingress, refusing past 90 % and keeping nothing (B1)', async () => {
    const { fileId, uploadUrl } = await createFile({ name: 'big.bin' }, 'metered');
    const tooBig = await put(uploadUrl, randomBytes(9_500));
    expect(tooBig.status).toBe(422);
    expect(await tooBig.json()).toMatchObject({
      code: ErrorCodes.QUOTA_EXCEEDED,
      details: { dimension: 'storageBytes', usage: 0, request: 9_500, limit: 10_000 },
    });
    expect((await readStagedFile(bed.pool, 'metered', fileId))?.state).toBe('PENDING_UPLOAD');

    // The same file, smaller, fits; a second upload of it is refused before it is charged again.
    const fits = await put(uploadUrl, randomBytes(5_000));
    expect(fits.status).toBe(200);
    expect((await put(uploadUrl, randomBytes(10))).status).toBe(409);
    const charged = (await bed.store.readStream('tenant-metered')).filter(
      (e) => e.type === 'StorageCharged',
    );
    expect(charged.map((e) => e.data)).toEqual([
      expect.objectContaining({ fileId, bytes: 5_000, storageBytes: 5_000 }),
    ]);
    // 5,000 stored + 4,000 more would reach the 9,000 line.
    const second = await createFile({ name: 'more.bin' }, 'metered');
    expect((await put(second.uploadUrl, randomBytes(4_000))).status).toBe(422);
    expect((await put(second.uploadUrl, randomBytes(3_999))).status).toBe(200);
  });
});
