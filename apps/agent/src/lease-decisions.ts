import { constants as osConstants } from 'node:os';
import { type LeaseOffer } from '@gantry/contracts';

/**
 * The agent's decisions, apart from NATS and processes: what a heartbeat reply means for what runs
 * here, which offers and kills are fenced, and what exit code a finished process reports.
 */

/** One rank of one lease: the unit the agent starts, kills and remembers. */
export interface RankKey {
  readonly jobId: string;
  readonly leaseEpoch: number;
  readonly rank: number;
}

export const rankKey = (key: RankKey): string => `${key.jobId}:${key.leaseEpoch}:${key.rank}`;
const leaseKey = (jobId: string, leaseEpoch: number): string => `${jobId}:${leaseEpoch}`;

/** A rank this agent holds, as far as reconciling needs to know. */
export interface LocalRank extends RankKey {
  /** When the agent took it on (epoch ms): a reply to a heartbeat sent earlier cannot know about it. */
  readonly acceptedAt: number;
}

export interface ReconcileInput {
  /** Every lease the scheduler says this node holds (the heartbeat reply). */
  readonly leases: readonly LeaseOffer[];
  readonly local: readonly LocalRank[];
  /** Ranks that already ran here: a late reply still listing one must not run it twice. */
  readonly finished: ReadonlySet<string>;
  /** Highest epoch seen per job on this node. */
  readonly highestEpoch: ReadonlyMap<string, number>;
  /** When the heartbeat this reply answers was sent (epoch ms). */
  readonly heartbeatSentAt: number;
}

export interface ReconcileDecision {
  readonly start: readonly LeaseOffer[];
  readonly kill: readonly LocalRank[];
}

/**
 * The lease set is the truth about what this node should run: start what is listed and neither runs
 * nor ran, kill what runs and is not listed. A rank taken on after the heartbeat left is spared: the
 * reply was computed before its lease existed (the offer push outran the reply), and the next
 * heartbeat lists it or not.
 */
export const reconcile = (input: ReconcileInput): ReconcileDecision => {
  const localKeys = new Set(input.local.map(rankKey));
  const seen = new Set<string>();
  const start: LeaseOffer[] = [];
  for (const lease of input.leases) {
    const key = rankKey(lease);
    if (seen.has(key)) continue;
    seen.add(key);
    if (localKeys.has(key) || input.finished.has(key)) continue;
    if (isFenced(input.highestEpoch, lease.jobId, lease.leaseEpoch)) continue;
    start.push(lease);
  }
  const listed = new Set(input.leases.map((l) => leaseKey(l.jobId, l.leaseEpoch)));
  const kill = input.local.filter(
    (rank) =>
      !listed.has(leaseKey(rank.jobId, rank.leaseEpoch)) &&
      rank.acceptedAt <= input.heartbeatSentAt,
  );
  return { start, kill };
};

/** The epoch rule: an offer or kill under an epoch older than one this node saw for the job is stale. */
export const isFenced = (
  highestEpoch: ReadonlyMap<string, number>,
  jobId: string,
  leaseEpoch: number,
): boolean => leaseEpoch < (highestEpoch.get(jobId) ?? 0);

/** Local ranks a newer epoch of their job has replaced: their lease is over. */
export const supersededBy = (
  local: readonly LocalRank[],
  jobId: string,
  leaseEpoch: number,
): LocalRank[] => local.filter((r) => r.jobId === jobId && r.leaseEpoch < leaseEpoch);

/** The local ranks a KillAttempt addresses: its job, at its epoch or older. */
export const killTargets = (
  local: readonly LocalRank[],
  jobId: string,
  leaseEpoch: number,
): LocalRank[] => local.filter((r) => r.jobId === jobId && r.leaseEpoch <= leaseEpoch);

/**
 * Remembers finished ranks for a while (clock injected). Long enough to outlive any heartbeat reply in
 * flight when the rank ended; not forever, so a long-lived agent does not grow without bound.
 */
export class FinishedRanks {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly clock: () => number,
    private readonly retentionMs: number = 10 * 60_000,
  ) {}

  add(key: RankKey): void {
    this.until.set(rankKey(key), this.clock() + this.retentionMs);
  }

  has(key: RankKey): boolean {
    return this.keys().has(rankKey(key));
  }

  keys(): ReadonlySet<string> {
    const now = this.clock();
    for (const [key, until] of this.until) if (until <= now) this.until.delete(key);
    return new Set(this.until.keys());
  }
}

export interface ProcessEnd {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly reason: 'exited' | 'killed' | 'max-runtime' | 'spawn-failed';
}

/** The exit code reported for a process end: a signal is 128 + its number, as a shell would say. */
export const reportedExitCode = (end: ProcessEnd): number => {
  if (end.reason === 'spawn-failed') return 127;
  if (end.exitCode !== null) return Math.min(255, Math.max(0, end.exitCode));
  const number =
    end.signal === null
      ? undefined
      : (osConstants.signals as Record<string, number | undefined>)[end.signal];
  return number === undefined ? 1 : Math.min(255, 128 + number);
};

/** Backoff for retried sends: doubling from `initialMs`, capped, with full jitter from `random`. */
export const backoffMs = (
  attempt: number,
  random: () => number,
  initialMs = 100,
  maxMs = 5_000,
): number => Math.round(random() * Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1)));
