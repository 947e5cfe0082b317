import { AgentConfigError, nodeIdFromHostname, readAgentConfig } from './config';

const host = {
  hostname: 'Box.Example.org',
  cpus: 8,
  totalMemoryBytes: 16 * 1024 ** 3,
  tmpdir: '/tmp',
};

describe('readAgentConfig', () => {
  it('defaults everything from the host', () => {
    expect(readAgentConfig({}, host)).toEqual({
      natsUrl: 'nats://127.0.0.1:4222',
      namespace: 'gantry',
      nodeId: 'box-example-org',
      hostname: 'Box.Example.org',
      pools: ['cpu'],
      cpu: 8,
      memoryMiB: 16_384,
      gpu: 0,
      labels: {},
      workRoot: '/tmp/gantry-agent/box-example-org',
      enrolToken: 'gantry-dev-enrol',
      keepWorkDirs: false,
      preemptGraceMs: 10_000,
    });
  });

  it('reads every variable', () => {
    const config = readAgentConfig(
      {
        NATS_URL: 'nats://nats:4222',
        GANTRY_NAMESPACE: 'ns1',
        GANTRY_NODE_ID: 'node-7',
        GANTRY_HOSTNAME: 'h7',
        GANTRY_POOLS: 'cpu, gpu',
        GANTRY_CPU: '2.5',
        GANTRY_MEMORY_MIB: '4096',
        GANTRY_GPU: '1',
        GANTRY_LABELS: 'zone=a,rack=r1',
        GANTRY_WORK_ROOT: '/var/lib/gantry',
        GANTRY_ENROL_TOKEN: 's3cret',
        GANTRY_KEEP_WORKDIRS: '1',
        GANTRY_PREEMPT_GRACE_MS: '2500',
      },
      host,
    );
    expect(config).toEqual({
      natsUrl: 'nats://nats:4222',
      namespace: 'ns1',
      nodeId: 'node-7',
      hostname: 'h7',
      pools: ['cpu', 'gpu'],
      cpu: 2.5,
      memoryMiB: 4096,
      gpu: 1,
      labels: { zone: 'a', rack: 'r1' },
      workRoot: '/var/lib/gantry',
      enrolToken: 's3cret',
      keepWorkDirs: true,
      preemptGraceMs: 2_500,
    });
  });

  it.each([
    ['a node id that is no subject token', { GANTRY_NODE_ID: 'a.b' }, 'GANTRY_NODE_ID'],
    ['a cpu count that is not a number', { GANTRY_CPU: 'many' }, 'GANTRY_CPU'],
    ['a negative gpu count', { GANTRY_GPU: '-1' }, 'GANTRY_GPU'],
    ['a label without =', { GANTRY_LABELS: 'zone' }, 'GANTRY_LABELS'],
    ['a relative work root', { GANTRY_WORK_ROOT: 'work' }, 'GANTRY_WORK_ROOT'],
    ['a pool with a dot', { GANTRY_POOLS: 'cpu.big' }, 'GANTRY_POOLS'],
    ['a grace period of zero', { GANTRY_PREEMPT_GRACE_MS: '0' }, 'GANTRY_PREEMPT_GRACE_MS'],
  ])('refuses %s, naming the variable', (_name, env, variable) => {
    expect(() => readAgentConfig(env, host)).toThrow(AgentConfigError);
    expect(() => readAgentConfig(env, host)).toThrow(variable);
  });
});

describe('nodeIdFromHostname', () => {
  it.each([
    ['gpu-01.cluster.local', 'gpu-01-cluster-local'],
    ['...', 'node'],
  ])('%s -> %s', (hostname, id) => expect(nodeIdFromHostname(hostname)).toBe(id));
});
