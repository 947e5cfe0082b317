import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProgressFileReader, checkpointPath, parseProgressLine } from './progress';

describe('parseProgressLine', () => {
  it.each([
    ['{"progress":0.4}', { kind: 'progress', progress: 0.4 }],
    ['{"checkpoint":"ckpt/a.pt"}', { kind: 'checkpoint', path: 'ckpt/a.pt' }],
    [
      `{"checkpoint":"a.pt","sha256":"${'A'.repeat(64)}"}`,
      { kind: 'checkpoint', path: 'a.pt', sha256: 'a'.repeat(64) },
    ],
  ])('reads %s', (line, entry) => {
    expect(parseProgressLine(line)).toEqual(entry);
  });

  it.each([
    ['not JSON', 'progress=0.4'],
    ['progress above 1', '{"progress":1.5}'],
    ['an unknown field', '{"progress":0.1,"eta":3}'],
    ['a short digest', '{"checkpoint":"a.pt","sha256":"abc"}'],
  ])('skips %s', (_case, line) => {
    expect(parseProgressLine(line).kind).toBe('invalid');
  });
});

describe('checkpointPath', () => {
  it.each([
    ['a relative path', 'ckpt/a.pt', '/w/ckpt/a.pt'],
    ['an absolute path inside', '/w/a.pt', '/w/a.pt'],
    ['a path that climbs out', '../other/a.pt', null],
    ['an absolute path outside', '/etc/passwd', null],
    ['the work dir itself', '.', null],
  ])('resolves %s', (_case, named, expected) => {
    expect(checkpointPath('/w', named)).toBe(expected);
  });
});

describe('ProgressFileReader', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'agent-progress-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('returns each whole line once, holding a partial one until its newline', async () => {
    const file = path.join(dir, 'progress.jsonl');
    const reader = new ProgressFileReader(file);
    expect(await reader.readNew()).toEqual([]);

    await fs.writeFile(file, '{"progress":0.1}\n{"progr');
    expect(await reader.readNew()).toEqual(['{"progress":0.1}']);
    await fs.appendFile(file, 'ess":0.2}\n\n{"progress":0.3}\n');
    expect(await reader.readNew()).toEqual(['{"progress":0.2}', '{"progress":0.3}']);
    expect(await reader.readNew()).toEqual([]);
  });
});
