import { createHash } from 'node:crypto';
import { QUARANTINE_AFTER } from '@gantry/domain';

export interface SchedulerConfig {
  /** The shared secret agents enrol with (GANTRY_ENROL_TOKEN). */
  readonly enrolToken: string;
  /** Key of the node tokens (HMAC-SHA256 of the node id). */
  readonly nodeSecret: string;
  readonly heartbeatIntervalMs: number;
  readonly leaseTtlMs: number;
  /** No heartbeat for this long: the node is lost (D2: two missed 5 s heartbeats, within 10 s). */
  readonly nodeLostMs: number;
  /** How often the reaper, the loss detector and the idle placement pass run. */
  readonly tickMs: number;
  /** Lease commands in flight at once. */
  readonly maxLeasesInFlight: number;
  /** Durable name of the job-event consumer; one per scheduler replica. */
  readonly consumerName: string;
  /** Seeds the placement core's tie-breaks: the same inputs and seed give the same decisions. */
  readonly seed: number;
  /**
   * How long a quarantined node waits before it takes a probe (C9), and again after a probe
   * fails: one lease at a time, whose attempt's outcome lifts the quarantine or extends it.
   */
  readonly quarantineProbeMs: number;
  /** Consecutive failed attempts on a node (from 2 jobs or more) that quarantine it (C9). */
  readonly quarantineAfter: number;
  /**
   * Pools where a job of a higher priority class may evict lower-priority running work when it
   * cannot otherwise start (C6; GANTRY_PREEMPTION_POOLS, comma-separated). Default: none.
   */
  readonly preemptionPools: ReadonlySet<string>;
}

export const DEFAULT_ENROL_TOKEN = 'gantry-dev-enrol';

const positiveInt = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${name} must be a positive whole number, not ${JSON.stringify(raw)}`);
  return value;
};

export const readSchedulerConfig = (env: NodeJS.ProcessEnv = process.env): SchedulerConfig => {
  const enrolToken = env['GANTRY_ENROL_TOKEN'] || DEFAULT_ENROL_TOKEN;
  return {
    enrolToken,
    // Derived rather than random, so that replicas (and restarts) agree on every node's token.
    nodeSecret:
      env['GANTRY_NODE_SECRET'] ||
      createHash('sha256').update(`gantry-node-secret:${enrolToken}`).digest('hex'),
    heartbeatIntervalMs: positiveInt(env, 'GANTRY_HEARTBEAT_INTERVAL_MS', 5_000),
    leaseTtlMs: positiveInt(env, 'GANTRY_LEASE_TTL_MS', 30_000),
    nodeLostMs: positiveInt(env, 'GANTRY_NODE_LOST_MS', 10_000),
    tickMs: positiveInt(env, 'GANTRY_SCHEDULER_TICK_MS', 1_000),
    maxLeasesInFlight: positiveInt(env, 'GANTRY_SCHEDULER_MAX_IN_FLIGHT', 64),
    consumerName: env['GANTRY_SCHEDULER_CONSUMER'] || 'scheduler',
    seed: positiveInt(env, 'GANTRY_SCHEDULER_SEED', 1),
    quarantineProbeMs: positiveInt(env, 'GANTRY_QUARANTINE_PROBE_MS', 300_000),
    quarantineAfter: positiveInt(env, 'GANTRY_QUARANTINE_AFTER', QUARANTINE_AFTER),
    preemptionPools: new Set(
      (env['GANTRY_PREEMPTION_POOLS'] ?? '')
        .split(',')
        .map((pool) => pool.trim())
        .filter((pool) => pool !== ''),
    ),
  };
};
