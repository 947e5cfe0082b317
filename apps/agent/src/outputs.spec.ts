import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OutputStoreError, collectOutputs, storeFiles, type FileCreator } from './outputs';

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
      storeFiles({ tenant: 'acme', jobId: 'j1', files: [file], create, upload }),
    ).rejects.toBeInstanceOf(OutputStoreError);
  });
});
