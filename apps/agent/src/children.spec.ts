import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CHILD_JOBS_FILE, parseChildManifest, readChildManifest } from './children';

const child = (name: string) => ({
  name,
  spec: { command: ['true'], resources: { cpu: 1, memoryMiB: 64 } },
});

describe('the fan-out manifest (D5)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gantry-children-'));
    mkdirSync(path.join(dir, path.dirname(CHILD_JOBS_FILE)), { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is none when the rank wrote none', async () => {
    expect(await readChildManifest(dir)).toEqual([]);
  });

  it('reads the children, their specs normalised as a submission would be', async () => {
    writeFileSync(path.join(dir, CHILD_JOBS_FILE), JSON.stringify([child('a'), child('b')]));
    const children = await readChildManifest(dir);
    expect(children.map((c) => c.name)).toEqual(['a', 'b']);
    expect(children[0]!.spec).toMatchObject({ nodes: 1, pool: 'cpu', steps: [] });
  });

  it.each([
    ['not JSON', '[{', /not JSON/],
    ['not a list', '{}', /not a list of at most 100 child jobs/],
    ['a child without a spec', '[{"name":"a"}]', /at 0\.spec/],
    ['a bad name', JSON.stringify([child('Bad Name')]), /at 0\.name/],
    ['a name twice', JSON.stringify([child('a'), child('a')]), /child names are unique/],
    [
      'too many',
      JSON.stringify(Array.from({ length: 101 }, (_, i) => child(`c${i}`))),
      /at most 100/,
    ],
    [
      'an unknown field in a spec',
      JSON.stringify([{ name: 'a', spec: { ...child('a').spec, bogus: 1 } }]),
      /at 0\.spec/,
    ],
  ])('refuses %s, saying why', (_name, text, why) => {
    expect(() => parseChildManifest(text)).toThrow(why);
  });

  it('refuses a manifest that is not a plain file', async () => {
    symlinkSync('/etc/passwd', path.join(dir, CHILD_JOBS_FILE));
    await expect(readChildManifest(dir)).rejects.toThrow(/not a plain file/);
  });
});
