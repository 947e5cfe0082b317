import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { resolveServerUrls } from './servers';

/**
 * A fresh database per test file, dropped afterwards, so runs never collide and a dirty server
 * never breaks them (ARCHITECTURE.md, "Running it").
 */
export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

export const uniqueName = (prefix: string): string =>
  `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;

const withDatabase = (serverUrl: string, database: string): string => {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
};

export const createTestDatabase = async (prefix = 'gantry_test'): Promise<TestDatabase> => {
  const { databaseUrl } = resolveServerUrls();
  const name = uniqueName(prefix).toLowerCase();
  const admin = new Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    // The store's readers stop at the oldest open transaction of the whole server (ADR 0002), so a
    // test that hangs inside a transaction would stall every other test's publisher. Such a
    // transaction is ended after a minute; no test holds one open nearly that long on purpose.
    await admin.query(`ALTER DATABASE ${name} SET idle_in_transaction_session_timeout = '60s'`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(databaseUrl, name),
    drop: async () => {
      const client = new Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
};
