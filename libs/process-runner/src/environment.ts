import { ProcessRunnerError } from './errors';

/** How the job's processes find each other; `torchrun` adds the variables torch.distributed reads. */
export type RuntimeKind = 'shell' | 'torchrun';

export interface RankEnvironmentInput {
  readonly jobId: string;
  readonly attempt: number;
  readonly rank: number;
  readonly worldSize: number;
  /** The gang's hosts in rank order, as locked by the lease (E3). */
  readonly hosts: readonly string[];
  /** `host:port` of rank 0 (`[v6addr]:port` for IPv6). */
  readonly coordinator: string;
  readonly runtime?: RuntimeKind;
}

export interface Coordinator {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port` or `[v6]:port`; throws on anything a rendezvous could not dial. */
export const parseCoordinator = (coordinator: string): Coordinator => {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(coordinator);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ProcessRunnerError(
      'invalid-options',
      `coordinator must be host:port, got ${JSON.stringify(coordinator)}`,
    );
  }
  return { host, port };
};

/**
 * The GANTRY_* variables every rank of a gang sees (the agent contract of issue 3), plus the
 * torchrun-style rendezvous variables when asked. Pure, so the contract is unit-tested.
 */
export const rankEnvironment = (input: RankEnvironmentInput): Record<string, string> => {
  const { jobId, attempt, rank, worldSize, hosts, coordinator } = input;
  if (!Number.isInteger(worldSize) || worldSize < 1) {
    throw new ProcessRunnerError(
      'invalid-options',
      `worldSize must be a positive integer, got ${worldSize}`,
    );
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new ProcessRunnerError('invalid-options', `rank ${rank} is outside 0..${worldSize - 1}`);
  }
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new ProcessRunnerError(
      'invalid-options',
      `attempt must be a non-negative integer, got ${attempt}`,
    );
  }
  // Every rank must agree on the gang; a host list that disagrees with the world size would make
  // rank-to-host lookups in the job silently wrong.
  if (hosts.length !== worldSize) {
    throw new ProcessRunnerError(
      'invalid-options',
      `hosts has ${hosts.length} entries but worldSize is ${worldSize}`,
    );
  }
  if (hosts.some((h) => h.length === 0 || /[,\s]/.test(h))) {
    throw new ProcessRunnerError(
      'invalid-options',
      'a host name is empty or contains a comma or space',
    );
  }
  const { host, port } = parseCoordinator(coordinator);
  const env: Record<string, string> = {
    GANTRY_JOB_ID: jobId,
    GANTRY_ATTEMPT: String(attempt),
    GANTRY_RANK: String(rank),
    GANTRY_WORLD_SIZE: String(worldSize),
    GANTRY_HOSTS: hosts.join(','),
    GANTRY_COORDINATOR: coordinator,
  };
  const runtime = input.runtime ?? 'shell';
  switch (runtime) {
    case 'shell':
      return env;
    case 'torchrun':
      return {
        ...env,
        MASTER_ADDR: host,
        MASTER_PORT: String(port),
        WORLD_SIZE: String(worldSize),
        RANK: String(rank),
      };
    default: {
      const unknown: never = runtime;
      throw new ProcessRunnerError('invalid-options', `unknown runtime ${String(unknown)}`);
    }
  }
};

/** A PATH that holds the system tools and nothing of the agent's own install (node_modules/.bin etc.). */
export const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ChildEnvironmentInput {
  readonly workDir: string;
  /** The tenant's variables from the job spec. */
  readonly tenantEnv: Readonly<Record<string, string>>;
  /** From rankEnvironment. */
  readonly rankEnv: Readonly<Record<string, string>>;
  readonly lang?: string;
}

/**
 * The job's whole environment. It is built from nothing rather than filtered from process.env, so no
 * agent secret (DATABASE_URL, enrolment tokens, NATS credentials) can reach a tenant's process by
 * someone forgetting to add it to a deny list. Order of precedence: safe base < tenant < ours. The
 * GANTRY_ prefix is reserved: a tenant's GANTRY_* variable is dropped even when we set no such name,
 * so a job can never be told something about its placement the platform did not say.
 */
export const childEnvironment = (input: ChildEnvironmentInput): Record<string, string> => {
  const env: Record<string, string> = {
    PATH: SAFE_PATH,
    HOME: input.workDir,
    TMPDIR: input.workDir,
    LANG: input.lang ?? 'C.UTF-8',
  };
  for (const [name, value] of Object.entries(input.tenantEnv)) {
    if (!ENV_NAME.test(name)) {
      throw new ProcessRunnerError(
        'invalid-options',
        `invalid environment variable name ${JSON.stringify(name)}`,
      );
    }
    // A NUL would make spawn throw (and cannot be represented in a C environment anyway).
    if (value.includes('\0')) {
      throw new ProcessRunnerError(
        'invalid-options',
        `environment variable ${name} contains a NUL byte`,
      );
    }
    if (name.startsWith('GANTRY_')) continue;
    env[name] = value;
  }
  return { ...env, ...input.rankEnv, GANTRY_WORK_DIR: input.workDir };
};
