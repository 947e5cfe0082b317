import { Client } from 'pg';
import { DataSource, type MigrationInterface } from 'typeorm';

export type MigrationClass = new () => MigrationInterface;

/** Serialises migration runs across processes: several replicas may start at once. */
const MIGRATION_LOCK_KEY = 0x6761_6e74; // 'gant'

/**
 * Runs the given migrations (any lib's) against one database and returns the names applied.
 * All libs share one `schema_migrations` table; each migration runs in its own transaction, and
 * an advisory lock keeps two processes from applying the same migration concurrently.
 */
export const runMigrations = async (
  databaseUrl: string,
  migrations: ReadonlyArray<MigrationClass>,
): Promise<string[]> => {
  const lock = new Client({ connectionString: databaseUrl, application_name: 'gantry-migrations' });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const dataSource = new DataSource({
      type: 'postgres',
      url: databaseUrl,
      migrations: [...migrations],
      migrationsTableName: 'schema_migrations',
      migrationsTransactionMode: 'each',
      logging: false,
    });
    await dataSource.initialize();
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await lock.end();
  }
};
