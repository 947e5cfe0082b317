import { promises as fs } from 'node:fs';
import path from 'node:path';

/** statfs(2) f_type of a cgroup v2 mount. */
export const CGROUP2_SUPER_MAGIC = 0x63677270;

export interface ResourceLimits {
  /** Cores, fractional allowed: 1.5 = 150 ms of CPU per 100 ms period. */
  readonly cpu?: number;
  readonly memoryMiB?: number;
}

export const CPU_PERIOD_US = 100_000;

/** The values written to cpu.max and memory.max. Pure. */
export const cgroupLimitValues = (
  limits: ResourceLimits,
): { cpuMax?: string; memoryMax?: string } => ({
  ...(limits.cpu !== undefined && {
    cpuMax: `${Math.max(1000, Math.round(limits.cpu * CPU_PERIOD_US))} ${CPU_PERIOD_US}`,
  }),
  ...(limits.memoryMiB !== undefined && {
    memoryMax: String(Math.round(limits.memoryMiB * 1024 * 1024)),
  }),
});

export interface AttemptCgroup {
  readonly path: string;
  /** Moves a process in; must happen before the job's code runs (see the spawn gate in start-attempt). */
  addProcess(pid: number): Promise<void>;
  /** Kills everything in the cgroup, including processes that escaped the process group with setsid. */
  killAll(): Promise<void>;
  remove(): Promise<void>;
}

export type CgroupOutcome =
  | { readonly status: 'applied'; readonly cgroup: AttemptCgroup }
  | { readonly status: 'unavailable'; readonly reason: string };

const controllersNeeded = (limits: ResourceLimits): string[] => [
  ...(limits.cpu !== undefined ? ['cpu'] : []),
  ...(limits.memoryMiB !== undefined ? ['memory'] : []),
];

/**
 * Creates `<root>/gantry/<name>` with the limits, or says why it cannot. Jobs go below a `gantry` parent
 * in the hierarchy root because cgroup v2 lets only leaves hold processes once controllers are
 * delegated ("no internal processes"), and the root is exempt from that rule. Anything that fails
 * (not v2, controllers missing, read-only, not permitted) makes limits unavailable rather than failing
 * the job: E1 asks for limits "where the host allows".
 */
export const createAttemptCgroup = async (
  root: string,
  name: string,
  limits: ResourceLimits,
): Promise<CgroupOutcome> => {
  const unavailable = (reason: string): CgroupOutcome => ({ status: 'unavailable', reason });
  try {
    const stat = await fs.statfs(root);
    if (stat.type !== CGROUP2_SUPER_MAGIC)
      return unavailable(`${root} is not a cgroup v2 hierarchy`);
    const available = (await fs.readFile(path.join(root, 'cgroup.controllers'), 'utf8'))
      .trim()
      .split(/\s+/);
    const needed = controllersNeeded(limits);
    const missing = needed.filter((c) => !available.includes(c));
    if (missing.length > 0)
      return unavailable(`${root} does not offer the ${missing.join(', ')} controller(s)`);
    const enable = needed.map((c) => `+${c}`).join(' ');
    const parent = path.join(root, 'gantry');
    await fs.writeFile(path.join(root, 'cgroup.subtree_control'), enable);
    await fs.mkdir(parent, { recursive: true });
    await fs.writeFile(path.join(parent, 'cgroup.subtree_control'), enable);
    const leaf = path.join(parent, name);
    await fs.mkdir(leaf);
    const values = cgroupLimitValues(limits);
    if (values.cpuMax !== undefined) await fs.writeFile(path.join(leaf, 'cpu.max'), values.cpuMax);
    if (values.memoryMax !== undefined) {
      await fs.writeFile(path.join(leaf, 'memory.max'), values.memoryMax);
      // Without this a job over its memory would swap instead of being OOM-killed inside its cgroup.
      await fs.writeFile(path.join(leaf, 'memory.swap.max'), '0').catch(() => undefined);
    }
    return { status: 'applied', cgroup: attemptCgroup(leaf) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return unavailable(`cgroup setup under ${root} failed: ${e.code ?? e.message}`);
  }
};

const attemptCgroup = (leaf: string): AttemptCgroup => ({
  path: leaf,
  addProcess: (pid) => fs.writeFile(path.join(leaf, 'cgroup.procs'), String(pid)),
  killAll: async () => {
    // cgroup.kill exists from Linux 5.14; older kernels rely on the process-group kill alone.
    await fs.writeFile(path.join(leaf, 'cgroup.kill'), '1').catch(() => undefined);
  },
  remove: async () => {
    for (let tries = 0; tries < 20; tries++) {
      try {
        await fs.rmdir(leaf);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY') throw err;
        await new Promise((r) => setTimeout(r, 50)); // the kernel frees a cgroup shortly after its last task
      }
    }
  },
});
