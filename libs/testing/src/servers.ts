import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where the servers are, for tests and tools: DATABASE_URL / NATS_URL when set; else what the
 * local bootstrap recorded in .gantry/servers.json; else the standard local ports.
 */
export interface ServerUrls {
  readonly databaseUrl: string;
  readonly natsUrl: string;
}

export const WORKSPACE_ROOT = join(__dirname, '..', '..', '..');
export const SERVERS_STATE_FILE = join(WORKSPACE_ROOT, '.gantry', 'servers.json');

export const resolveServerUrls = (): ServerUrls => {
  const recorded: Partial<ServerUrls> = existsSync(SERVERS_STATE_FILE)
    ? (JSON.parse(readFileSync(SERVERS_STATE_FILE, 'utf8')) as Partial<ServerUrls>)
    : {};
  return {
    databaseUrl:
      process.env.DATABASE_URL ??
      recorded.databaseUrl ??
      'postgres://postgres@127.0.0.1:5432/postgres',
    natsUrl: process.env.NATS_URL ?? recorded.natsUrl ?? 'nats://127.0.0.1:4222',
  };
};
