import { readPublisherConfig } from './config';

describe('readPublisherConfig', () => {
  it('uses the standard local servers and the gantry namespace when nothing is set', () => {
    expect(readPublisherConfig({})).toEqual({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      natsUrl: 'nats://127.0.0.1:4222',
      namespace: 'gantry',
      name: 'default',
      batchSize: 500,
      pollIntervalMs: 200,
    });
  });

  it('reads every setting from the environment', () => {
    expect(
      readPublisherConfig({
        DATABASE_URL: 'postgres://db/x',
        NATS_URL: 'nats://bus:4222',
        GANTRY_NAMESPACE: 't_1',
        GANTRY_PUBLISHER_NAME: 'blue',
        GANTRY_PUBLISHER_BATCH_SIZE: '100',
        GANTRY_PUBLISHER_POLL_MS: '50',
      }),
    ).toEqual({
      databaseUrl: 'postgres://db/x',
      natsUrl: 'nats://bus:4222',
      namespace: 't_1',
      name: 'blue',
      batchSize: 100,
      pollIntervalMs: 50,
    });
  });

  it.each(['0', '-5', '1.5', 'many'])('refuses a batch size of %s', (value) => {
    expect(() => readPublisherConfig({ GANTRY_PUBLISHER_BATCH_SIZE: value })).toThrow(
      /GANTRY_PUBLISHER_BATCH_SIZE/,
    );
  });
});
