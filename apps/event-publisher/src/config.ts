import { DEFAULT_NAMESPACE } from '@gantry/contracts';

export interface PublisherConfig {
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly namespace: string;
  /** The checkpoint and leader-lock name; replicas share it. */
  readonly name: string;
  readonly batchSize: number;
  readonly pollIntervalMs: number;
}

/** The standard local ports: what the bootstrap provides when nothing else is configured. */
const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_NATS_URL = 'nats://127.0.0.1:4222';

const positiveInt = (env: NodeJS.ProcessEnv, key: string, fallback: number): number => {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${key} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
};

export const readPublisherConfig = (env: NodeJS.ProcessEnv): PublisherConfig => ({
  databaseUrl: env.DATABASE_URL || LOCAL_DATABASE_URL,
  natsUrl: env.NATS_URL || LOCAL_NATS_URL,
  namespace: env.GANTRY_NAMESPACE || DEFAULT_NAMESPACE,
  name: env.GANTRY_PUBLISHER_NAME || 'default',
  batchSize: positiveInt(env, 'GANTRY_PUBLISHER_BATCH_SIZE', 500),
  pollIntervalMs: positiveInt(env, 'GANTRY_PUBLISHER_POLL_MS', 200),
});
