import { DEFAULT_NAMESPACE } from '@gantry/contracts';

export interface ControllerConfig {
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly namespace: string;
}

/** The standard local ports: what the bootstrap provides when nothing else is configured. */
const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_NATS_URL = 'nats://127.0.0.1:4222';

export const readControllerConfig = (env: NodeJS.ProcessEnv): ControllerConfig => ({
  databaseUrl: env.DATABASE_URL || LOCAL_DATABASE_URL,
  natsUrl: env.NATS_URL || LOCAL_NATS_URL,
  namespace: env.GANTRY_NAMESPACE || DEFAULT_NAMESPACE,
});
