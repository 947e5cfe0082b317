import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes } from '@gantry/contracts';
import { ensureServers, probeNats, probePostgres, stopServers } from './index';

/**
 * The "reuse the standard ports" path, against the servers this machine runs on 127.0.0.1:5432
 * (user postgres) and :4222 (JetStream): what `npm test` relies on day to day. An empty env
 * keeps DATABASE_URL / NATS_URL out of it, and a scratch state dir keeps the workspace's own
 * .gantry untouched.
 */
describe('ensureServers with servers on the standard ports', () => {
  let stateDir: string;
  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'gantry-bootstrap-'));
  });
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  it('reuses them and writes their URLs for @gantry/testing', async () => {
    const result = await ensureServers({ stateDir, env: {} });

    expect(result.postgres).toMatchObject({
      source: 'standard',
      url: 'postgres://postgres@127.0.0.1:5432/postgres',
      what: 'reused the Postgres on standard port 5432',
    });
    expect(result.nats).toMatchObject({
      source: 'standard',
      url: 'nats://127.0.0.1:4222',
      what: 'reused the nats-server on standard port 4222',
    });
    expect(JSON.parse(readFileSync(join(stateDir, 'servers.json'), 'utf8'))).toEqual({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      natsUrl: 'nats://127.0.0.1:4222',
    });
  });

  it('notes when the NATS server cannot flush JetStream on every write', async () => {
    const result = await ensureServers({ stateDir, env: {} });
    const version = result.nats.version.replace('nats-server ', '');
    const older = Number(version.split('.')[0]) === 2 && Number(version.split('.')[1]) < 10;

    expect(
      result.notes.some((note) => note.includes('sync_interval: always needs nats-server >= 2.10')),
    ).toBe(older);
  });

  it('prefers DATABASE_URL and NATS_URL when they answer', async () => {
    const env = {
      DATABASE_URL: 'postgres://postgres@localhost:5432/postgres',
      NATS_URL: 'nats://localhost:4222',
    };

    const result = await ensureServers({ stateDir, env });

    expect([result.postgres.source, result.postgres.url]).toEqual(['env', env.DATABASE_URL]);
    expect([result.nats.source, result.nats.url]).toEqual(['env', env.NATS_URL]);
  });

  it('refuses, naming the variable, when DATABASE_URL points at nothing', async () => {
    const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres' };

    await expect(ensureServers({ stateDir, env })).rejects.toMatchObject({
      code: ErrorCodes.UNAVAILABLE,
      message: expect.stringContaining('DATABASE_URL is set'),
    });
  });

  it('never stops servers it only reused', async () => {
    await ensureServers({ stateDir, env: {} });

    const stopped = await stopServers({ stateDir });

    expect(stopped.stopped).toEqual([]);
    expect((await probePostgres('postgres://postgres@127.0.0.1:5432/postgres')).state).toBe(
      'usable',
    );
    expect((await probeNats('nats://127.0.0.1:4222')).state).toBe('usable');
  });
});
