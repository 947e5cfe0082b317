import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './free-port';
import { ServiceProcess } from './service-process';

/**
 * The whole platform as real processes: every service of ARCHITECTURE.md from its own main.ts,
 * plus node agents. What `npm start`, the end-to-end tests and the lifecycle benchmark run, so
 * the three exercise one way of starting Gantry rather than three.
 */
export const PLATFORM_SERVICES = [
  'event-publisher',
  'projector',
  'controller',
  'admission',
  'scheduler',
  'staging',
  'logrelay',
  'gateway',
] as const;
export type PlatformService = (typeof PLATFORM_SERVICES)[number];

export interface AgentSpec {
  readonly nodeId: string;
  readonly pools?: readonly string[];
  readonly cpu?: number;
  readonly memoryMiB?: number;
  readonly gpu?: number;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface PlatformOptions {
  readonly workspaceRoot: string;
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly namespace: string;
  readonly adminToken: string;
  /** Where agents make their per-attempt work directories (one folder per node below it). */
  readonly workRoot: string;
  readonly agents: readonly AgentSpec[];
  /** 0 or absent: a free port. */
  readonly gatewayPort?: number;
  readonly stagingPort?: number;
  /** Extra environment for every process (timings for tests, OTel settings, ...). */
  readonly env?: Readonly<Record<string, string>>;
  readonly onLine?: (process: string, line: string) => void;
  readonly startTimeoutMs?: number;
  /** Options for node in every process, e.g. `['--cpu-prof', '--cpu-prof-dir=/tmp/prof']`. */
  readonly nodeArgs?: readonly string[];
}

export interface Platform {
  readonly gatewayUrl: string;
  readonly stagingUrl: string;
  readonly adminToken: string;
  service(name: PlatformService): ServiceProcess;
  agent(nodeId: string): ServiceProcess;
  /** Starts an agent that was stopped or killed, with the same node id and settings. */
  restartAgent(nodeId: string): Promise<ServiceProcess>;
  startAgent(spec: AgentSpec): Promise<ServiceProcess>;
  /** Starts a service again (SIGKILLed or stopped first if it still runs) and waits until it is ready. */
  restartService(name: PlatformService): Promise<ServiceProcess>;
  /** Every process, for failure messages: the tail of each one's output. */
  describe(): string;
  stop(): Promise<void>;
}

const READY = /"event":"started"/;

export const startPlatform = async (options: PlatformOptions): Promise<Platform> => {
  const gatewayPort = options.gatewayPort || (await freePort());
  const stagingPort = options.stagingPort || (await freePort());
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const stagingUrl = `http://127.0.0.1:${stagingPort}`;
  const common: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: options.databaseUrl,
    NATS_URL: options.natsUrl,
    GANTRY_NAMESPACE: options.namespace,
    GANTRY_ADMIN_TOKEN: options.adminToken,
    GANTRY_GATEWAY_PORT: String(gatewayPort),
    GANTRY_GATEWAY_HOST: '127.0.0.1',
    GANTRY_STAGING_PORT: String(stagingPort),
    GANTRY_STAGING_URL: stagingUrl,
    ...options.env,
  };
  const services = new Map<string, ServiceProcess>();
  const agents = new Map<string, { spec: AgentSpec; process: ServiceProcess }>();
  const timeoutMs = options.startTimeoutMs ?? 120_000;

  const spawnService = (name: PlatformService): ServiceProcess =>
    ServiceProcess.spawn({
      name,
      entry: `apps/${name}/src/main.ts`,
      cwd: options.workspaceRoot,
      env: common,
      ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
      ...(options.onLine ? { onLine: options.onLine } : {}),
    });

  const startAgent = async (spec: AgentSpec): Promise<ServiceProcess> => {
    const workRoot = join(options.workRoot, spec.nodeId);
    mkdirSync(workRoot, { recursive: true });
    const agent = ServiceProcess.spawn({
      name: `agent-${spec.nodeId}`,
      entry: 'apps/agent/src/main.ts',
      cwd: options.workspaceRoot,
      env: {
        ...common,
        GANTRY_NODE_ID: spec.nodeId,
        GANTRY_POOLS: (spec.pools ?? ['cpu']).join(','),
        GANTRY_WORK_ROOT: workRoot,
        GANTRY_HOSTNAME: '127.0.0.1',
        ...(spec.cpu === undefined ? {} : { GANTRY_CPU: String(spec.cpu) }),
        ...(spec.memoryMiB === undefined ? {} : { GANTRY_MEMORY_MIB: String(spec.memoryMiB) }),
        ...(spec.gpu === undefined ? {} : { GANTRY_GPU: String(spec.gpu) }),
        ...(spec.labels === undefined
          ? {}
          : {
              GANTRY_LABELS: Object.entries(spec.labels)
                .map(([k, v]) => `${k}=${v}`)
                .join(','),
            }),
      },
      ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
      ...(options.onLine ? { onLine: options.onLine } : {}),
    });
    agents.set(spec.nodeId, { spec, process: agent });
    await agent.waitFor(READY, timeoutMs);
    return agent;
  };

  const stop = async (): Promise<void> => {
    // Agents first, so no process of a job outlives the platform that would report on it.
    await Promise.all([...agents.values()].map(({ process }) => process.stop()));
    await Promise.all([...services.values()].map((service) => service.stop()));
  };

  try {
    for (const name of PLATFORM_SERVICES) services.set(name, spawnService(name));
    await Promise.all([...services.values()].map((service) => service.waitFor(READY, timeoutMs)));
    await Promise.all(options.agents.map(startAgent));
  } catch (err) {
    await stop();
    throw err;
  }

  const describe = (): string =>
    [...services.values(), ...[...agents.values()].map((a) => a.process)]
      .map((p) => `----- ${p.name} (${p.running ? 'running' : 'exited'})\n${p.tail(15)}`)
      .join('\n');

  return {
    gatewayUrl,
    stagingUrl,
    adminToken: options.adminToken,
    service: (name) => services.get(name)!,
    agent: (nodeId) => {
      const agent = agents.get(nodeId);
      if (!agent) throw new Error(`no agent ${nodeId}`);
      return agent.process;
    },
    restartAgent: async (nodeId) => {
      const agent = agents.get(nodeId);
      if (!agent) throw new Error(`no agent ${nodeId}`);
      await agent.process.stop();
      return startAgent(agent.spec);
    },
    startAgent,
    restartService: async (name) => {
      await services.get(name)?.kill();
      const service = spawnService(name);
      services.set(name, service);
      await service.waitFor(READY, timeoutMs);
      return service;
    },
    describe,
    stop,
  };
};
