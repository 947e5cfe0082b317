import { Socket } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Client } from 'pg';
import type { Probe } from './decide';
import { STANDARD_NATS_PORT, STANDARD_POSTGRES_PORT } from './urls';

const PROBE_TIMEOUT_MS = 2_000;

const hostAndPort = (url: string, defaultPort: number): { host: string; port: number } => {
  // NATS_URL may list several servers; the first is enough to tell "nothing there" apart.
  const parsed = new URL(url.split(',')[0]!.trim());
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : defaultPort,
  };
};

/** Whether anything accepts TCP connections there; separates "closed" from "answers wrongly". */
export const isListening = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = new Socket();
    const done = (listening: boolean) => {
      socket.destroy();
      resolve(listening);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.connect(port, host);
  });

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

export const probePostgres = async (url: string): Promise<Probe> => {
  const { host, port } = hostAndPort(url, STANDARD_POSTGRES_PORT);
  if (!(await isListening(host, port))) return { state: 'closed' };
  const client = new Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  // A server that drops the connection mid-handshake emits 'error' after connect() rejected.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return { state: 'usable', version: `PostgreSQL ${rows[0]?.server_version ?? '?'}` };
  } catch (error) {
    return { state: 'unusable', reason: messageOf(error) };
  } finally {
    await client.end().catch(() => undefined);
  }
};

export const probeNats = async (url: string): Promise<Probe> => {
  const { host, port } = hostAndPort(url, STANDARD_NATS_PORT);
  if (!(await isListening(host, port))) return { state: 'closed' };
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: url,
      timeout: PROBE_TIMEOUT_MS,
      reconnect: false,
      name: 'gantry-bootstrap',
    });
  } catch (error) {
    return { state: 'unusable', reason: `not a NATS server that accepts us (${messageOf(error)})` };
  }
  try {
    // A real JetStream API request: a server started without -js accepts connections but
    // answers nothing on $JS.API, and streams would fail much later and less clearly.
    const jsm = await jetstreamManager(nc, { timeout: PROBE_TIMEOUT_MS, checkAPI: false });
    await jsm.getAccountInfo();
    return { state: 'usable', version: `nats-server ${nc.info?.version ?? '?'}` };
  } catch (error) {
    return {
      state: 'unusable',
      reason: `JetStream does not answer (${messageOf(error)}); start nats-server with -js`,
    };
  } finally {
    await nc.close().catch(() => undefined);
  }
};
