import { existsSync } from 'node:fs';
import {
  decideServer,
  parseVersion,
  supportsSyncAlways,
  type Probe,
  type ServerDecision,
  type ServerKind,
  type Source,
} from './decide';
import { serversUnavailable } from './bootstrap-error';
import { resolveNatsServer, startNats, stopNats } from './nats-server';
import { startPostgres, stopPostgres } from './postgres-server';
import { probeNats, probePostgres } from './probes';
import { STANDARD_NATS_PORT, STANDARD_POSTGRES_PORT, natsUrl, postgresUrl } from './urls';
import { withBootstrapLock } from './lock';
import { freePort, isRunning } from './processes';
import {
  type BootstrapPaths,
  type StartedNats,
  type StartedPostgres,
  bootstrapPaths,
  ensureStateDir,
  readServersFile,
  readState,
  removeServersFile,
  writeServersFile,
  writeState,
} from './state';

export interface EnsureServersOptions {
  /** Where servers.json, bootstrap.json and the servers' data live; `<workspace>/.gantry` by default. */
  readonly stateDir?: string;
  /** Read for DATABASE_URL and NATS_URL; the process environment by default. */
  readonly env?: NodeJS.ProcessEnv;
  /** Look for servers on 127.0.0.1:5432 and :4222 before starting any; true by default. */
  readonly reuseStandardPorts?: boolean;
  /** Ports to start servers on, 0 for any free port; by default the standard port when free. */
  readonly ports?: { readonly postgres?: number; readonly nats?: number };
  /** The nats-server binary; found on the PATH (and /usr/sbin) by default. */
  readonly natsServerBinary?: string;
  /** As root with apt-get, install nats-server when it is missing; true by default. */
  readonly installMissing?: boolean;
  /** Progress while starting servers, which can take seconds. */
  readonly log?: (line: string) => void;
}

export interface ServerReport {
  readonly server: ServerKind;
  /** The full URL, password included, as written to servers.json. */
  readonly url: string;
  readonly version: string;
  readonly source: Source | 'started';
  /** What was used, in words: `reused the server on standard port 5432`. */
  readonly what: string;
  /** Why that one: the environment, or what ruled out the alternatives. */
  readonly why: string;
  readonly pid?: number;
}

export interface EnsureServersResult {
  readonly postgres: ServerReport;
  readonly nats: ServerReport;
  readonly notes: readonly string[];
  readonly serversFile: string;
}

const STANDARD = {
  postgres: {
    port: STANDARD_POSTGRES_PORT,
    url: postgresUrl(STANDARD_POSTGRES_PORT),
    probe: probePostgres,
  },
  nats: { port: STANDARD_NATS_PORT, url: natsUrl(STANDARD_NATS_PORT), probe: probeNats },
} as const;

const ENV_VARIABLE = { postgres: 'DATABASE_URL', nats: 'NATS_URL' } as const;

const gather = async (
  server: ServerKind,
  recorded: StartedPostgres | StartedNats | undefined,
  options: EnsureServersOptions,
): Promise<ServerDecision> => {
  const env = options.env ?? process.env;
  const { probe, port, url } = STANDARD[server];
  const variable = ENV_VARIABLE[server];
  const envUrl = env[variable];
  if (envUrl)
    return decideServer({ server, env: { variable, url: envUrl, probe: await probe(envUrl) } });

  const program =
    server === 'postgres' ? (recorded as StartedPostgres | undefined)?.dataDir : 'nats-server';
  const alive = recorded !== undefined && program !== undefined && isRunning(recorded.pid, program);
  const notProbed: Probe = { state: 'closed' };
  const reuseStandard = options.reuseStandardPorts ?? true;
  const [recordedProbe, standardProbe] = await Promise.all([
    alive ? probe(recorded.url) : notProbed,
    reuseStandard ? probe(url) : notProbed,
  ]);
  return decideServer({
    server,
    ...(recorded
      ? { recorded: { pid: recorded.pid, url: recorded.url, alive, probe: recordedProbe } }
      : {}),
    ...(reuseStandard ? { standard: { url, port, probe: standardProbe } } : {}),
    ...(options.ports?.[server] !== undefined ? { requestedPort: options.ports[server] } : {}),
  });
};

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

const usedReport = (server: ServerKind, decision: ServerDecision): ServerReport => {
  // Reached only after every 'fail' has thrown and every 'start' has started.
  if (decision.action !== 'use') throw new Error(`no ${server} server was provided`);
  const name = server === 'postgres' ? 'Postgres' : 'nats-server';
  const what = {
    env: `using ${ENV_VARIABLE[server]}`,
    recorded: `reused the ${server === 'postgres' ? 'embedded Postgres' : 'nats-server'} the bootstrap started earlier`,
    standard: `reused the ${name} on standard port ${STANDARD[server].port}`,
  }[decision.source];
  const { url, version, source, why } = decision;
  return { server, url, version, source, what, why };
};

const startedReport = (
  server: ServerKind,
  started: StartedPostgres | StartedNats,
  decision: ServerDecision,
): ServerReport => ({
  server,
  url: started.url,
  version: started.version,
  source: 'started',
  what: '',
  why: decision.why,
  pid: started.pid,
});

const syncNote = (nats: ServerReport, started: StartedNats | undefined): string | undefined => {
  const version = parseVersion(nats.version);
  if (version && !supportsSyncAlways(version)) {
    return (
      `${nats.version} cannot flush JetStream on every write (sync_interval: always needs nats-server >= 2.10); ` +
      'it syncs on its own interval. See docs/adr/0005-jetstream-durability.md.'
    );
  }
  if (nats.source === 'started')
    return started?.syncAlways ? `${nats.version} runs with sync_interval: always.` : undefined;
  return `${nats.version} supports sync_interval: always, but the bootstrap sets it only on servers it starts; check that server's config.`;
};

/**
 * Makes sure a Postgres and a JetStream-enabled NATS answer, starting them if need be, and
 * writes their URLs to servers.json for @gantry/testing. Throws a GantryError (UNAVAILABLE)
 * whose message says what to do when it cannot provide one.
 */
export const ensureServers = async (
  options: EnsureServersOptions = {},
): Promise<EnsureServersResult> => {
  const log = options.log ?? (() => undefined);
  const paths = bootstrapPaths(options.stateDir);
  ensureStateDir(paths);
  return withBootstrapLock(paths, () => ensureLocked(paths, options, log));
};

const ensureLocked = async (
  paths: BootstrapPaths,
  options: EnsureServersOptions,
  log: (line: string) => void,
): Promise<EnsureServersResult> => {
  const state = readState(paths);

  const [pgDecision, natsDecision] = await Promise.all([
    gather('postgres', state.postgres, options),
    gather('nats', state.nats, options),
  ]);
  const failures = [
    ...(pgDecision.action === 'fail' ? [`postgres: ${pgDecision.why}`] : []),
    ...(natsDecision.action === 'fail' ? [`nats: ${natsDecision.why}`] : []),
  ];
  if (failures.length > 0) throw serversUnavailable(failures.join('\n'));

  // The binary is resolved before anything starts, so a missing nats-server fails fast.
  const natsBinary =
    natsDecision.action === 'start'
      ? resolveNatsServer({
          binary: options.natsServerBinary,
          mayInstall: options.installMissing ?? true,
          log,
        })
      : undefined;

  const portFor = async (port: number | 'free'): Promise<number> =>
    port === 'free' ? freePort() : port;
  const [pgStart, natsStart] = await Promise.allSettled([
    pgDecision.action === 'start'
      ? portFor(pgDecision.port).then((port) => {
          log(`starting embedded Postgres on 127.0.0.1:${port}`);
          return startPostgres({ port, paths, log });
        })
      : undefined,
    natsDecision.action === 'start' && natsBinary
      ? portFor(natsDecision.port).then((port) => {
          log(`starting ${natsBinary} with JetStream on 127.0.0.1:${port}`);
          return startNats({ binary: natsBinary, port, paths });
        })
      : undefined,
  ]);
  const startedPg = pgStart.status === 'fulfilled' ? pgStart.value : undefined;
  const startedNats = natsStart.status === 'fulfilled' ? natsStart.value : undefined;

  // Record whatever did start, even if the other failed, so `stop` can find it; and keep
  // earlier servers that still run even when this run used another (an env URL, say).
  const keptPg =
    startedPg ??
    (state.postgres && isRunning(state.postgres.pid, state.postgres.dataDir)
      ? state.postgres
      : undefined);
  const keptNats =
    startedNats ??
    (state.nats && isRunning(state.nats.pid, 'nats-server') ? state.nats : undefined);
  writeState(paths, {
    ...(keptPg ? { postgres: keptPg } : {}),
    ...(keptNats ? { nats: keptNats } : {}),
  });
  const errors = [pgStart, natsStart].flatMap((result) =>
    result.status === 'rejected' ? [messageOf(result.reason)] : [],
  );
  if (errors.length > 0) throw serversUnavailable(errors.join('\n'));

  const postgres = startedPg
    ? {
        ...startedReport('postgres', startedPg, pgDecision),
        what: `started embedded Postgres at 127.0.0.1:${startedPg.port} (pid ${startedPg.pid}, data in ${startedPg.dataDir})`,
      }
    : usedReport('postgres', pgDecision);
  const nats = startedNats
    ? {
        ...startedReport('nats', startedNats, natsDecision),
        version: `nats-server ${startedNats.version}`,
        what: `started nats-server at 127.0.0.1:${startedNats.port} (pid ${startedNats.pid}, JetStream store in ${startedNats.storeDir})`,
      }
    : usedReport('nats', natsDecision);

  writeServersFile(paths, { databaseUrl: postgres.url, natsUrl: nats.url });
  const note = syncNote(nats, startedNats ?? (nats.source === 'recorded' ? state.nats : undefined));
  return { postgres, nats, notes: note ? [note] : [], serversFile: paths.serversFile };
};

export interface StopResult {
  readonly stopped: readonly string[];
  readonly notRunning: readonly string[];
}

/** Stops the servers this bootstrap started (never ones it merely reused) and forgets them. */
export const stopServers = async (
  options: Pick<EnsureServersOptions, 'stateDir'> = {},
): Promise<StopResult> => {
  const paths = bootstrapPaths(options.stateDir);
  if (!existsSync(paths.stateFile)) return { stopped: [], notRunning: [] };
  return withBootstrapLock(paths, () => stopLocked(paths));
};

const stopLocked = async (paths: BootstrapPaths): Promise<StopResult> => {
  const state = readState(paths);
  const stopped: string[] = [];
  const notRunning: string[] = [];
  const outcome = (what: string, result: 'stopped' | 'not running') =>
    (result === 'stopped' ? stopped : notRunning).push(what);

  if (state.nats)
    outcome(
      `nats-server pid ${state.nats.pid} on port ${state.nats.port}`,
      await stopNats(state.nats),
    );
  if (state.postgres)
    outcome(
      `embedded Postgres pid ${state.postgres.pid} on port ${state.postgres.port}`,
      await stopPostgres(state.postgres),
    );

  const servers = readServersFile(paths);
  // servers.json naming a server that is gone would send tests to a dead port.
  if (
    servers &&
    (servers.databaseUrl === state.postgres?.url || servers.natsUrl === state.nats?.url)
  ) {
    removeServersFile(paths);
  }
  writeState(paths, {});
  return { stopped, notRunning };
};

export interface ServerStatus {
  readonly server: ServerKind;
  readonly url?: string;
  readonly probe?: Probe;
  readonly startedByBootstrap?: { readonly pid: number; readonly running: boolean };
}

/** What servers.json points at, whether it answers, and what the bootstrap started. */
export const serversStatus = async (
  options: Pick<EnsureServersOptions, 'stateDir'> = {},
): Promise<readonly ServerStatus[]> => {
  const paths: BootstrapPaths = bootstrapPaths(options.stateDir);
  const state = readState(paths);
  const servers = readServersFile(paths) ?? {};
  const one = async (
    server: ServerKind,
    url: string | undefined,
    started: StartedPostgres | StartedNats | undefined,
    program: string | undefined,
  ): Promise<ServerStatus> => ({
    server,
    ...(url ? { url, probe: await STANDARD[server].probe(url) } : {}),
    ...(started && program
      ? { startedByBootstrap: { pid: started.pid, running: isRunning(started.pid, program) } }
      : {}),
  });
  return Promise.all([
    one('postgres', servers.databaseUrl, state.postgres, state.postgres?.dataDir),
    one('nats', servers.natsUrl, state.nats, 'nats-server'),
  ]);
};
