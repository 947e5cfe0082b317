import {
  isLegalTransition,
  isTerminal,
  stateAfterEvent,
  type JobLifecycleState,
  type JobStateName,
} from '@gantry/domain';

/**
 * The chaos suite's verdicts over one job's recorded history: pure, so a failing history can be
 * pasted into a test and judged again.
 */
export interface StoredEvent {
  readonly version: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly occurredAt: Date;
}

/** Facts an agent's report produces: each must carry the epoch of the lease live at that point. */
const WORKER_SIDE = new Set([
  'JobStagingStarted',
  'JobStarted',
  'RankExited',
  'AttemptFailed',
  'LeaseExpired',
  'JobSucceeded',
]);

/** The job-level facts that end an attempt, and with it its lease. */
const LEASE_ENDS = new Set([
  'JobRetryScheduled',
  'JobSucceeded',
  'JobFailed',
  'JobDeadLettered',
  'JobCancelled',
]);

export interface JobVerdict {
  readonly state: JobStateName;
  readonly terminal: boolean;
  /** The attempt that succeeded, when one did. */
  readonly succeededAttempt?: number;
  readonly leases: number;
  /** Each a sentence naming the event version and what is wrong. */
  readonly illegal: readonly string[];
  readonly doubleAssignment: readonly string[];
}

const targetOf = (event: StoredEvent): JobLifecycleState | undefined => stateAfterEvent(event);

export const judgeHistory = (events: readonly StoredEvent[]): JobVerdict => {
  const illegal: string[] = [];
  const doubleAssignment: string[] = [];
  let state: JobStateName = 'NONE';
  let live: { epoch: number; ranks: Map<number, string> } | undefined;
  let lastEpoch = 0;
  let leases = 0;
  let succeededAttempt: number | undefined;

  events.forEach((event, index) => {
    const at = `v${event.version} ${event.type}`;
    if (event.version !== index + 1) illegal.push(`${at}: expected version ${index + 1}`);
    const next = targetOf(event);
    if (next !== undefined) {
      if (!isLegalTransition(state, next)) illegal.push(`${at}: ${state} -> ${next} is illegal`);
      state = next;
    }
    const epoch = event.data['leaseEpoch'];
    if (event.type === 'JobLeased') {
      leases += 1;
      if (live) doubleAssignment.push(`${at}: epoch ${epoch} while epoch ${live.epoch} is live`);
      if (typeof epoch !== 'number' || epoch <= lastEpoch) {
        doubleAssignment.push(`${at}: epoch ${epoch} does not follow ${lastEpoch}`);
      }
      const nodes = (event.data['nodes'] as { nodeId: string; rank: number }[] | undefined) ?? [];
      if (new Set(nodes.map((n) => n.nodeId)).size !== nodes.length) {
        doubleAssignment.push(`${at}: one node holds two ranks of the gang`);
      }
      live = { epoch: Number(epoch), ranks: new Map(nodes.map((n) => [n.rank, n.nodeId])) };
      lastEpoch = Math.max(lastEpoch, Number(epoch));
    } else if (WORKER_SIDE.has(event.type)) {
      if (!live) {
        doubleAssignment.push(`${at}: epoch ${epoch} accepted with no live lease`);
      } else if (epoch !== live.epoch) {
        doubleAssignment.push(`${at}: stale epoch ${epoch} accepted, live is ${live.epoch}`);
      } else if (event.type === 'RankExited') {
        const rank = Number(event.data['rank']);
        const holder = live.ranks.get(rank);
        if (holder !== event.data['nodeId']) {
          doubleAssignment.push(
            `${at}: rank ${rank} reported by ${String(event.data['nodeId'])}, leased to ${holder}`,
          );
        }
      }
    }
    if (event.type === 'JobSucceeded') succeededAttempt = Number(event.data['attempt']);
    if (LEASE_ENDS.has(event.type)) live = undefined;
  });
  return {
    state,
    terminal: state !== 'NONE' && isTerminal(state),
    ...(succeededAttempt === undefined ? {} : { succeededAttempt }),
    leases,
    illegal,
    doubleAssignment,
  };
};

/** p50 and max of a list of durations, or undefined when there are none. */
export const percentiles = (
  values: readonly number[],
): { p50: number; max: number } | undefined => {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: sorted[Math.floor((sorted.length - 1) / 2)]!, max: sorted[sorted.length - 1]! };
};

/** mulberry32: a tiny seeded PRNG, so a run's workload and fault schedule replay from its seed. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
};
