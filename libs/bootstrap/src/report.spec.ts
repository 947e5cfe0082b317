import type { EnsureServersResult } from './ensure-servers';
import { formatEnsureReport } from './report';

const result: EnsureServersResult = {
  postgres: {
    server: 'postgres',
    url: 'postgres://postgres:gantry@127.0.0.1:40000/postgres',
    version: 'PostgreSQL 18.4',
    source: 'started',
    what: 'started embedded Postgres at 127.0.0.1:40000 (pid 7, data in /w/.gantry/pg)',
    why: 'standard port 5432: password authentication failed for user "postgres"',
    pid: 7,
  },
  nats: {
    server: 'nats',
    url: 'nats://127.0.0.1:4222',
    version: 'nats-server 2.9.10',
    source: 'standard',
    what: 'reused the nats-server on standard port 4222',
    why: 'a server answers on the standard port 4222',
  },
  notes: ['nats-server 2.9.10 cannot flush JetStream on every write'],
  serversFile: '/w/.gantry/servers.json',
};

describe('formatEnsureReport', () => {
  const printed = formatEnsureReport(result).join('\n');

  it('says what was used for each server, and why it started one', () => {
    expect(printed).toContain('started embedded Postgres at 127.0.0.1:40000');
    expect(printed).toContain('because standard port 5432: password authentication failed');
    expect(printed).toContain('reused the nats-server on standard port 4222');
    expect(printed).toContain('cannot flush JetStream on every write');
    expect(printed).toContain('/w/.gantry/servers.json');
  });

  it('never prints a password', () => {
    expect(printed).not.toContain(':gantry@');
    expect(printed).toContain('postgres://postgres:***@127.0.0.1:40000/postgres');
  });
});
