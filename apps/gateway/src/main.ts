import { connectNats } from '@gantry/messaging';
import { positiveIntFromEnv, runService } from '@gantry/service-runtime';
import { createGatewayApp } from './app';
import { gatewayMigrations } from './migrations';

/**
 * The API gateway: REST on Fastify. It owns nothing (ARCHITECTURE.md, services table): it turns
 * calls into commands and answers reads from projections kept by the projector.
 */
runService({
  name: 'gateway',
  migrations: gatewayMigrations,
  start: async ({ config, subjects, pool, store, log }) => {
    const nc = await connectNats(config.natsUrl, `gantry-gateway-${process.pid}`);
    const app = await createGatewayApp({
      nc,
      subjects,
      pool,
      store,
      adminToken: process.env['GANTRY_ADMIN_TOKEN'],
      onInternalError: (err) =>
        log('internal_error', { error: err instanceof Error ? err.stack : String(err) }),
    });
    const port = positiveIntFromEnv(process.env, 'GANTRY_GATEWAY_PORT', 8080);
    const host = process.env['GANTRY_GATEWAY_HOST'] || '0.0.0.0';
    await app.listen(port, host);
    log('listening', { url: `http://${host}:${port}` });
    return {
      close: async () => {
        await app.close();
        await nc.drain();
      },
    };
  },
});
