import { DEFAULT_NAMESPACE } from '@gantry/contracts';

/** What every Gantry process reads from its environment. */
export interface ServiceConfig {
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly namespace: string;
}

/** The standard local ports: what the bootstrap provides when nothing else is configured. */
const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_NATS_URL = 'nats://127.0.0.1:4222';

export const readServiceConfig = (env: NodeJS.ProcessEnv): ServiceConfig => ({
  databaseUrl: env.DATABASE_URL || LOCAL_DATABASE_URL,
  natsUrl: env.NATS_URL || LOCAL_NATS_URL,
  namespace: env.GANTRY_NAMESPACE || DEFAULT_NAMESPACE,
});

export const positiveIntFromEnv = (
  env: NodeJS.ProcessEnv,
  key: string,
  fallback: number,
): number => {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${key} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
};
