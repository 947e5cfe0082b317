import {
  childEnvironment,
  parseCoordinator,
  rankEnvironment,
  type RankEnvironmentInput,
  SAFE_PATH,
} from './environment';
import { isProcessRunnerError } from './errors';

const aRank = (overrides: Partial<RankEnvironmentInput> = {}): RankEnvironmentInput => ({
  jobId: 'job-1',
  attempt: 2,
  rank: 1,
  worldSize: 2,
  hosts: ['node-a', 'node-b'],
  coordinator: 'node-a:29500',
  ...overrides,
});

const refusal = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return isProcessRunnerError(err) ? err.refusal : 'not a ProcessRunnerError';
  }
  return undefined;
};

describe('rankEnvironment', () => {
  it('gives every rank the GANTRY_* contract of the agent', () => {
    expect(rankEnvironment(aRank())).toEqual({
      GANTRY_JOB_ID: 'job-1',
      GANTRY_ATTEMPT: '2',
      GANTRY_RANK: '1',
      GANTRY_WORLD_SIZE: '2',
      GANTRY_HOSTS: 'node-a,node-b',
      GANTRY_COORDINATOR: 'node-a:29500',
    });
  });

  it('adds the torchrun rendezvous variables only for the torchrun runtime', () => {
    const env = rankEnvironment(aRank({ runtime: 'torchrun', coordinator: '[fd00::1]:29400' }));
    expect(env).toMatchObject({
      MASTER_ADDR: 'fd00::1',
      MASTER_PORT: '29400',
      WORLD_SIZE: '2',
      RANK: '1',
    });
    expect(rankEnvironment(aRank())).not.toHaveProperty('MASTER_ADDR');
  });

  it.each([
    ['rank equal to world size', aRank({ rank: 2 })],
    ['negative rank', aRank({ rank: -1 })],
    ['fractional attempt', aRank({ attempt: 1.5 })],
    ['zero world size', aRank({ worldSize: 0, hosts: [] })],
    ['host list shorter than the gang', aRank({ hosts: ['node-a'] })],
    ['host with a comma', aRank({ hosts: ['node-a', 'b,c'] })],
    ['coordinator without a port', aRank({ coordinator: 'node-a' })],
    ['coordinator port out of range', aRank({ coordinator: 'node-a:70000' })],
  ])('refuses %s', (_name, input) => {
    expect(refusal(() => rankEnvironment(input))).toBe('invalid-options');
  });
});

describe('parseCoordinator', () => {
  it.each([
    ['node-a:1', { host: 'node-a', port: 1 }],
    ['10.0.0.7:29500', { host: '10.0.0.7', port: 29500 }],
    ['[::1]:65535', { host: '::1', port: 65535 }],
  ])('reads %s', (text, expected) => expect(parseCoordinator(text)).toEqual(expected));
});

describe('childEnvironment', () => {
  const rankEnv = rankEnvironment(aRank());

  it('starts from a minimal base, never from the agent environment', () => {
    process.env['DATABASE_URL'] = 'postgres://agent-secret';
    try {
      const env = childEnvironment({ workDir: '/w/job-1/2/1', tenantEnv: {}, rankEnv });
      expect(Object.keys(env).sort()).toEqual(
        ['GANTRY_WORK_DIR', 'HOME', 'LANG', 'PATH', 'TMPDIR', ...Object.keys(rankEnv)].sort(),
      );
      expect(env).toMatchObject({
        PATH: SAFE_PATH,
        HOME: '/w/job-1/2/1',
        GANTRY_WORK_DIR: '/w/job-1/2/1',
      });
    } finally {
      delete process.env['DATABASE_URL'];
    }
  });

  it('lets the tenant override the base but never the GANTRY_ namespace', () => {
    const env = childEnvironment({
      workDir: '/w',
      tenantEnv: { PATH: '/opt/tool/bin', MODEL: 'big', GANTRY_RANK: '0', GANTRY_SPOOF: 'x' },
      rankEnv,
    });
    expect(env['PATH']).toBe('/opt/tool/bin');
    expect(env['MODEL']).toBe('big');
    expect(env['GANTRY_RANK']).toBe('1');
    expect(env).not.toHaveProperty('GANTRY_SPOOF');
  });

  it.each([
    ['a name with =', { 'A=B': 'x' }],
    ['a name starting with a digit', { '1A': 'x' }],
    ['an empty name', { '': 'x' }],
    ['a NUL in a value', { A: 'x\0y' }],
  ])('refuses %s', (_name, tenantEnv) => {
    expect(refusal(() => childEnvironment({ workDir: '/w', tenantEnv, rankEnv }))).toBe(
      'invalid-options',
    );
  });
});
