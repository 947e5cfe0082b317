import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  OutputStoreError,
  collectDeclaredOutputs,
  collectOutputs,
  firstDuplicateName,
  rankOutputPrefix,
  storeFiles,
  type FileCreator,
} from './outputs';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'agent-outputs-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('collectOutputs', () => {
  it('takes the plain files directly in the dir, measured, and names what it leaves out', async () => {
    await fs.writeFile(path.join(dir, 'b.bin'), 'bravo');
    await fs.writeFile(path.join(dir, 'a.txt'), 'alpha!');
    await fs.mkdir(path.join(dir, 'nested'));
    await fs.symlink('/etc/hostname', path.join(dir, 'link'));

    const { files, skipped } = await collectOutputs(dir);

    expect(files.map(({ name, size, sha256 }) => ({ name, size, sha256 }))).toEqual([
      { name: 'a.txt', size: 6, sha256: sha('alpha!') },
      { name: 'b.bin', size: 5, sha256: sha('bravo') },
    ]);
    expect(skipped.sort()).toEqual(['link', 'nested']);
  });

  it('finds nothing in a dir the job never made', async () => {
    expect(await collectOutputs(path.join(dir, 'absent'))).toEqual({ files: [], skipped: [] });
  });

  it("names another rank's files apart, and skips a name the prefix makes too long", async () => {
    await fs.writeFile(path.join(dir, 'a.txt'), 'alpha!');
    await fs.writeFile(path.join(dir, 'x'.repeat(250)), '');

    const { files, skipped } = await collectOutputs(dir, rankOutputPrefix(3));

    expect(files.map((f) => f.name)).toEqual(['rank3-a.txt']);
    expect(skipped).toEqual(['x'.repeat(250)]);
  });
});

describe('rankOutputPrefix', () => {
  it.each([
    [0, ''],
    [1, 'rank1-'],
    [12, 'rank12-'],
  ])('rank %d: %j', (rank, prefix) => {
    expect(rankOutputPrefix(rank)).toBe(prefix);
  });
});

describe('collectDeclaredOutputs', () => {
  it('finds each declared output at its path, under its declared name', async () => {
    await fs.mkdir(path.join(dir, 'out'));
    await fs.writeFile(path.join(dir, 'out', 'model.pt'), 'weights');

    const files = await collectDeclaredOutputs(dir, [{ name: 'model', path: 'out/model.pt' }]);

    expect(files.map(({ name, size, sha256 }) => ({ name, size, sha256 }))).toEqual([
      { name: 'model', size: 7, sha256: sha('weights') },
    ]);
  });

  it('fails naming every declared output that is missing, not a file, or outside', async () => {
    await fs.mkdir(path.join(dir, 'out'));
    await fs.symlink('/etc/hostname', path.join(dir, 'escape'));

    const failure = collectDeclaredOutputs(dir, [
      { name: 'model', path: 'out/model.pt' },
      { name: 'dir', path: 'out' },
      { name: 'escape', path: 'escape' },
    ]);

    await expect(failure).rejects.toBeInstanceOf(OutputStoreError);
    await expect(failure).rejects.toThrow(
      'declared outputs not produced: model (out/model.pt) is missing; dir (out) is not a regular file; escape (escape) is not inside the work dir',
    );
  });
});

describe('firstDuplicateName', () => {
  const named = (name: string) => ({ name, path: '/dev/null', size: 0, sha256: sha('') });
  it('finds the name two files share, and nothing when every name is its own', () => {
    expect(firstDuplicateName([named('a'), named('b'), named('a')])).toBe('a');
    expect(firstDuplicateName([named('a'), named('b')])).toBeUndefined();
  });
});

describe('storeFiles', () => {
  const file = { name: 'a.txt', path: '/dev/null', size: 0, sha256: sha('') };
  const create: FileCreator = async ({ name }) => ({
    ref: `file-${name.length.toString().padStart(32, '0')}`,
    uploadUrl: 'http://staging.test/put',
  });

  it('reports each file under the ref staging created for it', async () => {
    const stored = await storeFiles({
      tenant: 'acme',
      jobId: 'j1',
      leaseEpoch: 1,
      files: [file],
      create,
      upload: async () => new Response('{}', { status: 200 }),
    });
    expect(stored).toEqual([
      { name: 'a.txt', ref: `file-${'0'.repeat(31)}5`, size: 0, sha256: sha('') },
    ]);
  });

  it.each([
    [
      'staging refuses the bytes',
      async () => new Response('{"code":"VALIDATION_FAILED"}', { status: 400 }),
    ],
    ['the upload cannot be sent', async () => Promise.reject(new Error('ECONNREFUSED'))],
  ])('fails when %s', async (_case, upload) => {
    await expect(
      storeFiles({ tenant: 'acme', jobId: 'j1', leaseEpoch: 1, files: [file], create, upload }),
    ).rejects.toBeInstanceOf(OutputStoreError);
  });
});
