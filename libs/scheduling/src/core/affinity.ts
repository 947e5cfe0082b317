/**
 * Learned affinity per (node, job label) (C5): a pure fold over attempt outcomes.
 *
 * A value lives in [-1, 1]. Between outcomes it decays towards 0 exponentially with a half-life
 * (default 24 h), so old evidence fades and a node that was bad once can win work back. An outcome
 * moves the decayed value a step `learningRate` (default 0.2) of the way to +1 (success) or -1
 * (failure), which keeps it inside [-1, 1] without clamping.
 */
export interface AffinityEntry {
  readonly value: number;
  /** Epoch milliseconds of the last outcome folded in. */
  readonly at: number;
}

export type AffinityTable = ReadonlyMap<string, AffinityEntry>;

export interface AttemptOutcome {
  readonly nodeId: string;
  readonly labels: readonly string[];
  readonly success: boolean;
  /** Epoch milliseconds. */
  readonly at: number;
}

export interface AffinityOptions {
  readonly halfLifeMs: number;
  readonly learningRate: number;
}

export const DEFAULT_AFFINITY_OPTIONS: AffinityOptions = {
  halfLifeMs: 24 * 3_600_000,
  learningRate: 0.2,
};

export const affinityKey = (nodeId: string, label: string): string => `${nodeId}\u0000${label}`;

export const decayedAffinity = (
  entry: AffinityEntry | undefined,
  now: number,
  options: AffinityOptions = DEFAULT_AFFINITY_OPTIONS,
): number => {
  if (!entry) return 0;
  const elapsed = Math.max(0, now - entry.at);
  return entry.value * Math.pow(2, -elapsed / options.halfLifeMs);
};

export const foldAffinity = (
  table: AffinityTable,
  outcome: AttemptOutcome,
  options: AffinityOptions = DEFAULT_AFFINITY_OPTIONS,
): AffinityTable => {
  const next = new Map(table);
  const target = outcome.success ? 1 : -1;
  for (const label of new Set(outcome.labels)) {
    const key = affinityKey(outcome.nodeId, label);
    const current = decayedAffinity(table.get(key), outcome.at, options);
    next.set(key, {
      value: current + options.learningRate * (target - current),
      at: Math.max(outcome.at, table.get(key)?.at ?? outcome.at),
    });
  }
  return next;
};

/** The mean over the job's labels: a job with no labels has no affinity anywhere (0). */
export const affinityFor = (
  table: AffinityTable,
  nodeId: string,
  labels: readonly string[],
  now: number,
  options: AffinityOptions = DEFAULT_AFFINITY_OPTIONS,
): number => {
  if (labels.length === 0 || table.size === 0) return 0;
  let sum = 0;
  for (const label of labels)
    sum += decayedAffinity(table.get(affinityKey(nodeId, label)), now, options);
  return sum / labels.length;
};
