import { positiveIntFromEnv, readServiceConfig } from './config';

describe('service configuration', () => {
  it('falls back to the standard local servers and the gantry namespace', () => {
    expect(readServiceConfig({})).toEqual({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      natsUrl: 'nats://127.0.0.1:4222',
      namespace: 'gantry',
    });
  });

  it('takes what the environment says', () => {
    const env = {
      DATABASE_URL: 'postgres://db/x',
      NATS_URL: 'nats://n:4222',
      GANTRY_NAMESPACE: 't1',
    };
    expect(readServiceConfig(env)).toEqual({
      databaseUrl: 'postgres://db/x',
      natsUrl: 'nats://n:4222',
      namespace: 't1',
    });
  });

  it.each([['0'], ['-3'], ['1.5'], ['ten']])(
    'refuses %s where a positive integer is needed',
    (raw) => {
      expect(() => positiveIntFromEnv({ N: raw }, 'N', 5)).toThrow(/N must be a positive integer/);
    },
  );

  it('uses the fallback when unset', () => expect(positiveIntFromEnv({}, 'N', 5)).toBe(5));
});
