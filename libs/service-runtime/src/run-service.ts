import { Pool } from 'pg';
import { createSubjects, eventRegistry, type SubjectCatalogue } from '@gantry/contracts';
import { PostgresEventStore, runMigrations, type MigrationClass } from '@gantry/event-store';
import { startTelemetry } from '@gantry/telemetry';
import { readServiceConfig, type ServiceConfig } from './config';

export type ServiceLog = (event: string, fields?: Readonly<Record<string, unknown>>) => void;

/** One JSON line per event on stdout: what every Gantry process logs until pino is wired in. */
export const jsonLineLog =
  (service: string): ServiceLog =>
  (event, fields = {}) => {
    process.stdout.write(
      `${JSON.stringify({ time: new Date().toISOString(), service, event, ...fields })}\n`,
    );
  };

export interface ServiceContext {
  readonly name: string;
  readonly config: ServiceConfig;
  readonly subjects: SubjectCatalogue;
  readonly pool: Pool;
  readonly store: PostgresEventStore;
  readonly log: ServiceLog;
}

export interface RunningService {
  close(): Promise<void>;
}

export interface ServiceDefinition {
  /** `service.name` in traces and the `service` field of every log line. */
  readonly name: string;
  /** Migrations this process applies before it starts (idempotent; replicas serialise on a lock). */
  readonly migrations: readonly MigrationClass[];
  readonly poolSize?: number;
  readonly start: (context: ServiceContext) => Promise<RunningService>;
}

/**
 * The life of a Gantry process: telemetry first (so start-up is traced), configuration from the
 * environment, migrations, a pool and the event store, the service itself; on SIGTERM or SIGINT
 * the service closes (it answers what it has in hand), then the pool and telemetry. A second
 * signal forces the exit.
 */
export const runService = (
  definition: ServiceDefinition,
  env: NodeJS.ProcessEnv = process.env,
): void => {
  const log = jsonLineLog(definition.name);
  const main = async (): Promise<void> => {
    const telemetry = startTelemetry({ serviceName: definition.name });
    const config = readServiceConfig(env);
    const applied = await runMigrations(config.databaseUrl, definition.migrations);
    if (applied.length > 0) log('migrated', { applied });

    const pool = new Pool({ connectionString: config.databaseUrl, max: definition.poolSize ?? 10 });
    pool.on('error', (err) => log('pool_error', { error: err.message }));
    const running = await definition.start({
      name: definition.name,
      config,
      subjects: createSubjects(config.namespace),
      pool,
      store: new PostgresEventStore(pool, eventRegistry),
      log,
    });
    log('started', { namespace: config.namespace });

    let stopping = false;
    const shutdown = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log('forced_exit', { signal });
        process.exit(1);
      }
      stopping = true;
      log('stopping', { signal });
      void (async () => {
        await running.close();
        await pool.end();
        await telemetry.shutdown();
        log('stopped');
        process.exit(0);
      })();
    };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
  };
  main().catch((err: unknown) => {
    log('fatal', { error: err instanceof Error ? err.stack : String(err) });
    process.exit(1);
  });
};
