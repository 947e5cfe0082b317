import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { serversUnavailable } from './bootstrap-error';
import {
  NATS_INSTALL_HELP,
  planNatsBinary,
  parseVersion,
  supportsSyncAlways,
  type ServerVersion,
} from './decide';
import { probeNats } from './probes';
import { natsUrl } from './urls';
import { isRoot, isRunning, lastLines, sleep, waitFor } from './processes';
import type { BootstrapPaths, StartedNats } from './state';

// Debian installs nats-server into /usr/sbin, which is not on a non-root PATH.
const EXTRA_BIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/opt/homebrew/bin'];

const findExecutable = (name: string): string | undefined => {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_BIN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
};

const aptGetInstall = (log: (line: string) => void): boolean => {
  const install = () =>
    spawnSync('apt-get', ['install', '-y', 'nats-server'], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status === 0;
  log('nats-server is missing; installing it: apt-get install -y nats-server');
  if (install()) return true;
  // A fresh container has no package lists yet.
  log('apt-get install failed; running apt-get update and trying again');
  spawnSync('apt-get', ['update'], { stdio: ['ignore', 'inherit', 'inherit'] });
  return install();
};

/** The nats-server binary: given, found on the PATH, or installed with apt-get when root. */
export const resolveNatsServer = (options: {
  readonly binary?: string;
  readonly mayInstall: boolean;
  readonly log: (line: string) => void;
}): string => {
  const plan = planNatsBinary({
    found: options.binary ?? findExecutable('nats-server'),
    isRoot: isRoot(),
    hasAptGet: findExecutable('apt-get') !== undefined,
    mayInstall: options.mayInstall,
  });
  switch (plan.action) {
    case 'use':
      return plan.path;
    case 'apt-install': {
      const installed = aptGetInstall(options.log) ? findExecutable('nats-server') : undefined;
      if (!installed)
        throw serversUnavailable(`apt-get could not install nats-server. ${NATS_INSTALL_HELP}`);
      return installed;
    }
    case 'instruct':
      throw serversUnavailable(plan.message);
    default: {
      const unreachable: never = plan;
      return unreachable;
    }
  }
};

export const natsServerVersion = (binary: string): { text: string; version?: ServerVersion } => {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  const text = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  return { text, version: parseVersion(text) };
};

/**
 * The command line (and, from 2.10, the config file) for a JetStream nats-server on 127.0.0.1.
 * `sync_interval` exists only in config files, so servers that support it run from one.
 */
export const natsServerArgs = (options: {
  readonly syncAlways: boolean;
  readonly port: number;
  readonly paths: Pick<BootstrapPaths, 'natsStoreDir' | 'natsConfig'>;
}): { readonly args: readonly string[]; readonly config?: string } => {
  const { syncAlways, port, paths } = options;
  if (!syncAlways) {
    return { args: ['-js', '-sd', paths.natsStoreDir, '-a', '127.0.0.1', '-p', String(port)] };
  }
  const config = [
    '# Written by the Gantry bootstrap (libs/bootstrap) on every start.',
    `listen: "127.0.0.1:${port}"`,
    'jetstream {',
    `  store_dir: ${JSON.stringify(paths.natsStoreDir)}`,
    '  sync_interval: always',
    '}',
    '',
  ].join('\n');
  return { args: ['-c', paths.natsConfig], config };
};

/**
 * Starts nats-server with JetStream on 127.0.0.1, detached so it outlives this process, and
 * waits until JetStream answers. From 2.10 it runs from a config file with
 * `sync_interval: always` (docs/adr/0005); older servers get the same setup from flags.
 */
export const startNats = async (options: {
  readonly binary: string;
  readonly port: number;
  readonly paths: BootstrapPaths;
}): Promise<StartedNats> => {
  const { binary, port, paths } = options;
  const { text, version } = natsServerVersion(binary);
  const syncAlways = version !== undefined && supportsSyncAlways(version);
  mkdirSync(paths.natsStoreDir, { recursive: true });

  const { args, config } = natsServerArgs({ syncAlways, port, paths });
  if (config !== undefined) writeFileSync(paths.natsConfig, config);

  const logFd = openSync(paths.natsLog, 'a');
  const child = spawn(binary, [...args], { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw serversUnavailable(`could not start ${binary}`);

  const url = natsUrl(port);
  const ready = await waitFor(async () => {
    if (exited) return 'exited' as const;
    return (await probeNats(url)).state === 'usable' ? ('ready' as const) : undefined;
  }, 15_000);
  if (ready !== 'ready') {
    if (!exited) process.kill(pid, 'SIGKILL');
    throw serversUnavailable(
      `nats-server on port ${port} did not come up with JetStream. Last lines of ${paths.natsLog}:\n${lastLines(paths.natsLog)}`,
    );
  }
  return {
    pid,
    port,
    url,
    storeDir: paths.natsStoreDir,
    version: version ? `${version.major}.${version.minor}.${version.patch}` : text,
    syncAlways,
    startedAt: new Date().toISOString(),
  };
};

/** Stops a nats-server the bootstrap started; SIGTERM lets JetStream flush before it exits. */
export const stopNats = async (started: StartedNats): Promise<'stopped' | 'not running'> => {
  if (!isRunning(started.pid, 'nats-server')) return 'not running';
  process.kill(started.pid, 'SIGTERM');
  const gone = await waitFor(
    async () => (isRunning(started.pid, 'nats-server') ? undefined : true),
    10_000,
  );
  if (!gone) {
    process.kill(started.pid, 'SIGKILL');
    await sleep(100);
  }
  return 'stopped';
};
