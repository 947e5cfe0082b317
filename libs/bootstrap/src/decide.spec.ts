import {
  decideServer,
  parseVersion,
  planNatsBinary,
  supportsSyncAlways,
  type Probe,
  type ServerDecision,
  type ServerFacts,
} from './decide';

const usable = (version = 'PostgreSQL 15.20'): Probe => ({ state: 'usable', version });
const closed: Probe = { state: 'closed' };
const unusable = (reason: string): Probe => ({ state: 'unusable', reason });

const STANDARD_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const RECORDED_URL = 'postgres://postgres:gantry@127.0.0.1:40000/postgres';

/** Postgres facts where nothing answers anywhere, for each case to change one thing. */
const facts = (change: Partial<ServerFacts> = {}): ServerFacts => ({
  server: 'postgres',
  standard: { url: STANDARD_URL, port: 5432, probe: closed },
  ...change,
});
const env = (url: string, probe: Probe) => ({ env: { variable: 'DATABASE_URL', url, probe } });
const recorded = (alive: boolean, probe: Probe) => ({
  recorded: { pid: 4242, url: RECORDED_URL, alive, probe },
});
const standard = (probe: Probe) => ({ standard: { url: STANDARD_URL, port: 5432, probe } });

describe('decideServer', () => {
  it.each<[string, ServerFacts, Partial<ServerDecision>]>([
    [
      'uses the environment URL when it answers, over everything else',
      facts({
        ...env('postgres://ci@db:5432/ci', usable()),
        ...recorded(true, usable()),
        ...standard(usable()),
      }),
      { action: 'use', source: 'env', url: 'postgres://ci@db:5432/ci' },
    ],
    [
      'fails rather than fall back when the environment URL does not answer',
      facts({ ...env('postgres://ci@db:5432/ci', closed), ...standard(usable()) }),
      { action: 'fail' },
    ],
    [
      'reuses the server it started earlier while it runs and answers',
      facts({ ...recorded(true, usable()), ...standard(usable()) }),
      { action: 'use', source: 'recorded', url: RECORDED_URL },
    ],
    [
      'fails when its own earlier server runs but does not answer, since it holds the data directory',
      facts(recorded(true, unusable('the database system is starting up'))),
      { action: 'fail' },
    ],
    [
      'reuses a usable server on the standard port',
      facts(standard(usable())),
      { action: 'use', source: 'standard', url: STANDARD_URL },
    ],
    [
      'reuses the standard port when its own earlier server has exited',
      facts({ ...recorded(false, closed), ...standard(usable()) }),
      { action: 'use', source: 'standard' },
    ],
    [
      'starts on the standard port when nothing listens there',
      facts(),
      { action: 'start', port: 5432 },
    ],
    [
      'starts on a free port when the standard port is taken by something unusable',
      facts(standard(unusable('password authentication failed for user "postgres"'))),
      { action: 'start', port: 'free' },
    ],
    [
      'starts on the requested port',
      facts({ requestedPort: 6543 }),
      { action: 'start', port: 6543 },
    ],
    [
      'starts on a free port when asked for port 0',
      facts({ requestedPort: 0 }),
      { action: 'start', port: 'free' },
    ],
    [
      'starts on a free port when told not to look at the standard ports',
      { server: 'postgres' },
      { action: 'start', port: 'free' },
    ],
  ])('%s', (_name, given, expected) => {
    expect(decideServer(given)).toMatchObject(expected);
  });

  it('says what the standard port was found to be when it starts its own', () => {
    const decision = decideServer(facts(standard(unusable('password authentication failed'))));
    expect(decision.why).toContain('password authentication failed');
  });

  it('names the variable to unset, and never prints its password, when the environment URL fails', () => {
    const decision = decideServer(
      facts(env('postgres://ci:s3cret@db:5432/ci', unusable('no pg_hba.conf entry'))),
    );
    expect(decision.why).toContain('unset DATABASE_URL');
    expect(decision.why).toContain('no pg_hba.conf entry');
    expect(decision.why).not.toContain('s3cret');
  });
});

describe('planNatsBinary', () => {
  it.each([
    [
      'uses a binary it found',
      { found: '/usr/sbin/nats-server', isRoot: false, hasAptGet: false, mayInstall: true },
      'use',
    ],
    [
      'installs with apt-get as root',
      { isRoot: true, hasAptGet: true, mayInstall: true },
      'apt-install',
    ],
    [
      'never installs when told not to',
      { isRoot: true, hasAptGet: true, mayInstall: false },
      'instruct',
    ],
    [
      'cannot install without root',
      { isRoot: false, hasAptGet: true, mayInstall: true },
      'instruct',
    ],
    [
      'cannot install without apt-get',
      { isRoot: true, hasAptGet: false, mayInstall: true },
      'instruct',
    ],
  ] as const)('%s', (_name, given, action) => {
    expect(planNatsBinary(given).action).toBe(action);
  });

  it('says exactly what to install when it cannot', () => {
    const plan = planNatsBinary({ isRoot: false, hasAptGet: false, mayInstall: true });
    expect(plan).toMatchObject({
      action: 'instruct',
      message: expect.stringContaining('apt-get install -y nats-server'),
    });
  });
});

describe('sync_interval: always support', () => {
  it.each([
    ['nats-server: v2.9.10', false],
    ['nats-server: v2.10.0', true],
    ['v2.11.4', true],
    ['3.0.0-beta.1', true],
    ['nats-server: v1.4.1', false],
  ])('%s -> %s', (text, supported) => {
    expect(supportsSyncAlways(parseVersion(text)!)).toBe(supported);
  });

  it('does not guess a version it cannot read', () => {
    expect(parseVersion('nats-server: unknown')).toBeUndefined();
  });
});
