import { isProcessRunnerError } from './errors';
import { canSearch, assertInsideWorkRoot, workDirPath } from './work-dir';
import { lookupUser, resolveRunAs } from './run-as';

const refusal = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return isProcessRunnerError(err) ? err.refusal : 'not a ProcessRunnerError';
  }
  return undefined;
};

describe('workDirPath', () => {
  it('is <workRoot>/<jobId>/<attempt>/<rank>', () => {
    expect(
      workDirPath({ workRoot: '/var/lib/gantry/work', jobId: 'job-7', attempt: 3, rank: 1 }),
    ).toBe('/var/lib/gantry/work/job-7/3/1');
  });

  it.each([
    ['a job id that climbs', { jobId: '..' }],
    ['a job id with a slash', { jobId: 'a/b' }],
    ['a hidden job id', { jobId: '.ssh' }],
    ['an empty job id', { jobId: '' }],
    ['a negative attempt', { attempt: -1 }],
    ['a fractional rank', { rank: 0.5 }],
    ['a relative work root', { workRoot: 'work' }],
  ])('refuses %s', (_name, overrides) => {
    const coords = { workRoot: '/w', jobId: 'job', attempt: 0, rank: 0, ...overrides };
    expect(refusal(() => workDirPath(coords))).toBe('invalid-options');
  });
});

describe('assertInsideWorkRoot', () => {
  it.each([['/w/job/0/0'], ['/w/job'], ['/w/./job/../job/0']])('accepts %s', (target) => {
    expect(() => assertInsideWorkRoot('/w', target)).not.toThrow();
  });

  it.each([['/w'], ['/w/'], ['/'], ['/etc'], ['/w/../etc'], ['/w2/job'], ['/w/job/../..']])(
    'refuses %s',
    (target) => {
      expect(refusal(() => assertInsideWorkRoot('/w', target))).toBe('outside-work-root');
    },
  );
});

describe('canSearch', () => {
  it.each([
    ['owner with x', { uid: 5, gid: 9, mode: 0o700 }, true],
    ['owner without x, others with x', { uid: 5, gid: 9, mode: 0o601 }, false],
    ['group with x', { uid: 1, gid: 6, mode: 0o710 }, true],
    ['other with x', { uid: 1, gid: 9, mode: 0o711 }, true],
    ['other without x', { uid: 1, gid: 9, mode: 0o770 }, false],
  ])('uid 5 gid 6: %s', (_name, stat, expected) => {
    expect(canSearch(stat, 5, 6)).toBe(expected);
  });
});

describe('resolveRunAs', () => {
  const passwd =
    'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n';

  it('auto, as root: runs as nobody', () => {
    expect(resolveRunAs('auto', 0, () => passwd)).toEqual({ uid: 65534, gid: 65534 });
  });

  it('auto, not root: runs as ourselves', () => {
    expect(resolveRunAs('auto', 1000, () => passwd)).toBeUndefined();
  });

  it('refuses to run a job as root when asked explicitly', () => {
    expect(refusal(() => resolveRunAs({ uid: 0, gid: 0 }, 0))).toBe('invalid-options');
  });

  it('refuses auto when there is no unprivileged user to fall back to', () => {
    expect(refusal(() => resolveRunAs('auto', 0, () => 'root:x:0:0::/root:/bin/sh\n'))).toBe(
      'unknown-user',
    );
  });

  it('lookupUser ignores malformed lines', () => {
    expect(lookupUser('nobody:x:abc:1\nnobody:x:7:8:::\n', 'nobody')).toEqual({ uid: 7, gid: 8 });
  });
});
