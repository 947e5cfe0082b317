import { positiveIntFromEnv, readServiceConfig, type ServiceConfig } from '@gantry/service-runtime';

export interface PublisherConfig extends ServiceConfig {
  /** The checkpoint and leader-lock name; replicas share it. */
  readonly name: string;
  readonly batchSize: number;
  readonly pollIntervalMs: number;
}

export const readPublisherConfig = (env: NodeJS.ProcessEnv): PublisherConfig => ({
  ...readServiceConfig(env),
  name: env.GANTRY_PUBLISHER_NAME || 'default',
  batchSize: positiveIntFromEnv(env, 'GANTRY_PUBLISHER_BATCH_SIZE', 500),
  pollIntervalMs: positiveIntFromEnv(env, 'GANTRY_PUBLISHER_POLL_MS', 200),
});
