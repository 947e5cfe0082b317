import { type Resources } from '../placement';

export type PoolPolicy = 'pack' | 'spread';

export interface CoreNode {
  readonly nodeId: string;
  readonly pools: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly capacity: Resources;
  /** What running work holds on it (the allocations given to the core must add up to this). */
  readonly used: Resources;
  readonly cordoned?: boolean;
  readonly quarantined?: boolean;
  readonly lost?: boolean;
  /** 0 (sick) .. 1 (healthy): recent attempt success on this node; default 1. */
  readonly health?: number;
  /** 0 (idle) .. 1 (busy) as the agent reports it; default the cpu share in use. */
  readonly load?: number;
  /** Input refs (`file-...`) already on the node's disk (F6). */
  readonly heldInputs?: readonly string[];
  /**
   * What an hour on this node costs relative to its pool's list price (C5's cost term): 1 by
   * default, below 1 for cheaper capacity (spot, reserved), above for dearer.
   */
  readonly costFactor?: number;
}

export interface CoreJob {
  readonly tenant: string;
  readonly jobId: string;
  readonly pool: string;
  /** Gang size: distinct nodes, one rank each. */
  readonly nodes: number;
  /** Per rank. */
  readonly resources: Resources;
  readonly priority: number;
  /** Epoch milliseconds. */
  readonly enqueuedAt: number;
  /** Epoch milliseconds; null when it may start now (no retry backoff). */
  readonly notBefore: number | null;
  /** null: unknown, the core assumes `defaultRuntimeSeconds`. */
  readonly expectedRuntimeSeconds: number | null;
  readonly inputs?: readonly string[];
  /** Capability labels a node must carry with these values (hard filter). */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** Job labels, the keys of learned affinity. */
  readonly labels?: readonly string[];
}

export interface RunningAllocation {
  readonly jobId: string;
  readonly tenant: string;
  readonly pool: string;
  readonly nodes: readonly string[];
  /** Per node. */
  readonly resources: Resources;
  /** Epoch milliseconds, or null when the runtime is unknown. */
  readonly expectedEnd: number | null;
  /** Epoch milliseconds; with an unknown end, the end is taken as start + default runtime. */
  readonly startedAt: number;
}

export interface ScoreWeights {
  readonly fit: number;
  readonly load: number;
  readonly health: number;
  readonly locality: number;
  readonly affinity: number;
  readonly cost: number;
}

export interface CoreConfig {
  readonly seed: number;
  readonly tenantWeights?: Readonly<Record<string, number>>;
  readonly poolPolicies?: Readonly<Record<string, PoolPolicy>>;
  readonly weights?: Partial<ScoreWeights>;
  /** Priority points a job gains per minute of waiting (aging). */
  readonly agingPerMinute?: number;
  readonly defaultRuntimeSeconds?: number;
  /** A running job past its expected end is assumed to end this long after `now`. */
  readonly overdueGraceSeconds?: number;
  /** How many queued jobs one pass looks at, at most: bounds a pass on a deep, full queue. */
  readonly maxConsideredPerPass?: number;
}

export type TermName = keyof ScoreWeights;

export type Terms = Readonly<Record<TermName, number>>;

export interface RankedNode {
  readonly nodeId: string;
  readonly rank: number;
}

export interface Decision {
  readonly tenant: string;
  readonly jobId: string;
  readonly pool: string;
  readonly nodes: readonly RankedNode[];
  /** Where a backfilled job went while a reservation stood in its pool. */
  readonly backfill: boolean;
}

export interface Reservation {
  readonly tenant: string;
  readonly jobId: string;
  readonly pool: string;
  /** Epoch milliseconds: when enough nodes free up, from expected ends. */
  readonly startsAt: number;
  readonly nodes: readonly string[];
}

export type HardFilter = 'labels' | 'health' | 'capacity' | 'resources' | 'reservation';

export interface CandidateScore {
  readonly nodeId: string;
  readonly terms: Terms;
  readonly total: number;
  /** The seeded tie-break: higher wins when totals are equal. */
  readonly tieBreak: number;
}

export type WaitingFor =
  | { readonly kind: 'backoff'; readonly until: number }
  | { readonly kind: 'reservation'; readonly startsAt: number; readonly nodes: readonly string[] }
  | {
      readonly kind: 'capacity';
      /** The reservation the job may not delay, if its pool has one. */
      readonly behind: { readonly jobId: string; readonly startsAt: number } | null;
    }
  | { readonly kind: 'never-fits'; readonly feasibleNodes: number }
  | { readonly kind: 'not-considered' };

export interface Explanation {
  readonly tenant: string;
  readonly jobId: string;
  readonly outcome: 'placed' | 'waiting';
  /** 1-based place in its tenant's queue (by effective priority) when the pass began. */
  readonly queuePosition: number;
  /** The tenant's weighted dominant share in the job's pool when the job was considered. */
  readonly tenantShare: number;
  readonly weights: ScoreWeights;
  readonly policy: PoolPolicy;
  /** Every node that passed the hard filters, best first. */
  readonly candidates: readonly CandidateScore[];
  readonly filtered: readonly { readonly nodeId: string; readonly filter: HardFilter }[];
  /** Nodes outside the job's pool are not listed, only counted. */
  readonly outsidePool: number;
  readonly chosen: readonly string[];
  readonly why: string;
  readonly waitingFor: WaitingFor | null;
}

export interface PassResult {
  readonly decisions: readonly Decision[];
  readonly reservations: readonly Reservation[];
  readonly explanations: readonly Explanation[];
  /** Jobs the pass looked at (placed or not). */
  readonly considered: number;
  /** The earliest end of a retry backoff the pass ran into: when to run a pass again. */
  readonly wakeAt: number | null;
}

export interface PassOptions {
  readonly maxDecisions?: number;
  /** 'all' explains every considered job; a set only those; default none (fast path). */
  readonly explain?: 'all' | ReadonlySet<string>;
  /** Explain every job the pass places, whichever `explain` names (the service keeps them). */
  readonly explainPlaced?: boolean;
}
