import { natsServerArgs } from './nats-server';

const paths = { natsStoreDir: '/w/.gantry/nats', natsConfig: '/w/.gantry/nats.conf' };

describe('natsServerArgs', () => {
  it('runs servers that support it from a config file that flushes every write', () => {
    const { args, config } = natsServerArgs({ syncAlways: true, port: 4333, paths });

    expect(args).toEqual(['-c', '/w/.gantry/nats.conf']);
    expect(config).toContain('listen: "127.0.0.1:4333"');
    expect(config).toMatch(
      /jetstream \{\s+store_dir: "\/w\/\.gantry\/nats"\s+sync_interval: always\s+\}/,
    );
  });

  it('gives older servers the same JetStream setup from flags', () => {
    const { args, config } = natsServerArgs({ syncAlways: false, port: 4333, paths });

    expect(args).toEqual(['-js', '-sd', '/w/.gantry/nats', '-a', '127.0.0.1', '-p', '4333']);
    expect(config).toBeUndefined();
  });
});
