import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ServerUrls, SERVERS_STATE_FILE } from '@gantry/testing';

/** Where the bootstrap keeps its files; `<workspace>/.gantry` unless a caller isolates itself. */
export interface BootstrapPaths {
  readonly dir: string;
  /** `{ databaseUrl, natsUrl }`, read by @gantry/testing's resolveServerUrls. */
  readonly serversFile: string;
  /** What this bootstrap started: pids, ports, directories. */
  readonly stateFile: string;
  readonly pgDataDir: string;
  readonly pgLog: string;
  readonly natsStoreDir: string;
  readonly natsConfig: string;
  readonly natsLog: string;
}

export const DEFAULT_STATE_DIR = join(SERVERS_STATE_FILE, '..');

export const bootstrapPaths = (dir: string = DEFAULT_STATE_DIR): BootstrapPaths => ({
  dir,
  serversFile: join(dir, 'servers.json'),
  stateFile: join(dir, 'bootstrap.json'),
  pgDataDir: join(dir, 'pg'),
  pgLog: join(dir, 'postgres.log'),
  natsStoreDir: join(dir, 'nats'),
  natsConfig: join(dir, 'nats.conf'),
  natsLog: join(dir, 'nats.log'),
});

export interface StartedPostgres {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  readonly version: string;
  readonly startedAt: string;
}

export interface StartedNats {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  readonly storeDir: string;
  readonly version: string;
  /** Whether it runs with `sync_interval: always`. */
  readonly syncAlways: boolean;
  readonly startedAt: string;
}

export interface BootstrapState {
  readonly postgres?: StartedPostgres;
  readonly nats?: StartedNats;
}

const readJson = <T>(file: string): T | undefined => {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    // A half-written or hand-edited file is treated as absent; probes decide what is running.
    return undefined;
  }
};

/** Write-then-rename, so a reader (a test starting meanwhile) never sees half a file. */
const writeJson = (file: string, value: unknown): void => {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(temporary, file);
};

export const ensureStateDir = (paths: BootstrapPaths): void => {
  // Searchable by others: as root, Postgres runs as the postgres user and must reach pg/ inside.
  mkdirSync(paths.dir, { recursive: true, mode: 0o755 });
};

export const readState = (paths: BootstrapPaths): BootstrapState =>
  readJson<BootstrapState>(paths.stateFile) ?? {};

export const writeState = (paths: BootstrapPaths, state: BootstrapState): void => {
  if (!state.postgres && !state.nats) rmSync(paths.stateFile, { force: true });
  else writeJson(paths.stateFile, state);
};

export const readServersFile = (paths: BootstrapPaths): Partial<ServerUrls> | undefined =>
  readJson<Partial<ServerUrls>>(paths.serversFile);

export const writeServersFile = (paths: BootstrapPaths, urls: ServerUrls): void =>
  writeJson(paths.serversFile, {
    databaseUrl: urls.databaseUrl,
    natsUrl: urls.natsUrl,
  } satisfies ServerUrls);

export const removeServersFile = (paths: BootstrapPaths): void =>
  rmSync(paths.serversFile, { force: true });
