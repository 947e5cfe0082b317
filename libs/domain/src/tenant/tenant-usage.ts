import { ErrorCodes, GantryError, type TenantQuotas } from '@gantry/contracts';

/**
 * The B2 guard (FEATURES.md): a tenant's usage is what its reserved jobs hold, and a job is
 * admitted only while usage + request stays under 90 % of each quota. Reaching the line is
 * already a refusal (`usage + request >= 0.9 x limit`), so a tenant always keeps a tenth of its
 * quota as headroom. A dimension without a quota is unlimited.
 */
export const QUOTA_GUARD_RATIO = 0.9;

export type QuotaDimension = 'cores' | 'memoryMiB' | 'gpus' | 'concurrentJobs';
/** The byte quotas (B1): storage held now, ingress and egress per month. */
export type ByteDimension = 'storageBytes' | 'ingressBytes' | 'egressBytes';

export interface Usage {
  readonly cores: number;
  readonly memoryMiB: number;
  readonly gpus: number;
  readonly concurrentJobs: number;
}

/**
 * What one job holds while it is reserved: its per-node resources times its nodes, and its price
 * (B3): the rate locked at admission and the cost it is projected to reach.
 */
export interface Reservation {
  readonly cores: number;
  readonly memoryMiB: number;
  readonly gpus: number;
  readonly pool?: string | null;
  readonly ratePerHour?: number;
  readonly projectedCost?: number;
}

export interface QuotaRefusal {
  /** A quota dimension, or the monthly budget (its numbers are money, its threshold the budget). */
  readonly dimension: QuotaDimension | ByteDimension | 'budget';
  /** For a per-pool quota (gpusByPool): the pool whose quota it is. */
  readonly pool?: string;
  readonly usage: number;
  readonly request: number;
  readonly limit: number;
  readonly threshold: number;
}

/** The usage of a set of reservations (job id -> what it holds). */
export const usageOf = (reservations: Readonly<Record<string, Reservation>>): Usage => {
  const held = Object.values(reservations);
  const sum = (pick: (r: Reservation) => number): number =>
    held.reduce((total, r) => total + pick(r), 0);
  return {
    // Rounded to micro-cores: fractional cpus summed in binary floating point drift otherwise.
    cores: Math.round(sum((r) => r.cores) * 1e6) / 1e6,
    memoryMiB: sum((r) => r.memoryMiB),
    gpus: sum((r) => r.gpus),
    concurrentJobs: held.length,
  };
};

/** 9/10 in integers first, so 0.9 x 12 is 10.8 and not 10.799999999999999. */
export const thresholdOf = (limit: number): number => (limit * 9) / 10;

const DIMENSIONS: readonly QuotaDimension[] = ['cores', 'memoryMiB', 'gpus', 'concurrentJobs'];

/** The first dimension the request would push to or past its line, or null when it fits. */
export const checkQuotas = (
  quotas: TenantQuotas,
  usage: Usage,
  request: Usage,
): QuotaRefusal | null => {
  for (const dimension of DIMENSIONS) {
    const limit = quotas[dimension];
    if (limit === undefined) continue;
    const threshold = thresholdOf(limit);
    if ((usage[dimension] + request[dimension]) * 10 >= limit * 9)
      return {
        dimension,
        usage: usage[dimension],
        request: request[dimension],
        limit,
        threshold,
      };
  }
  return null;
};

/**
 * The per-pool GPU guard (B1): the GPUs the tenant's jobs in `pool` hold, plus the request, must
 * stay under 90 % of its quota there, like every other dimension.
 */
export const checkPoolGpus = (
  quotas: TenantQuotas,
  reservations: Readonly<Record<string, Reservation>>,
  pool: string | null,
  gpus: number,
): QuotaRefusal | null => {
  if (pool === null || gpus <= 0) return null;
  const limit = quotas.gpusByPool?.[pool];
  if (limit === undefined) return null;
  const usage = Object.values(reservations)
    .filter((r) => r.pool === pool)
    .reduce((sum, r) => sum + r.gpus, 0);
  if ((usage + gpus) * 10 < limit * 9) return null;
  return { dimension: 'gpus', pool, usage, request: gpus, limit, threshold: thresholdOf(limit) };
};

/** One byte quota's guard: the same 90 % line as every dimension. */
export const checkBytes = (
  dimension: ByteDimension,
  limit: number | undefined,
  usage: number,
  request: number,
): QuotaRefusal | null =>
  limit === undefined || (usage + request) * 10 < limit * 9
    ? null
    : { dimension, usage, request, limit, threshold: thresholdOf(limit) };

const UNITS: Readonly<Record<QuotaDimension | ByteDimension | 'budget', string>> = {
  budget: 'spent or committed',
  storageBytes: 'bytes stored',
  ingressBytes: 'bytes uploaded this month',
  egressBytes: 'bytes downloaded this month',
  cores: 'cores',
  memoryMiB: 'MiB',
  gpus: 'GPUs',
  concurrentJobs: 'concurrent jobs',
};

/** The refusal in words: the dimension and its numbers, for a person reading the job's reason. */
export const describeQuotaRefusal = (refusal: QuotaRefusal): string =>
  refusal.dimension === 'budget'
    ? `over the monthly budget: ${refusal.usage} ${UNITS.budget} + a projected ` +
      `${refusal.request} for this job would reach ${refusal.usage + refusal.request}, past the ` +
      `budget of ${refusal.limit}`
    : `over the ${refusal.dimension} quota${refusal.pool === undefined ? '' : ` of pool ${refusal.pool}`}: ${refusal.usage} ${UNITS[refusal.dimension]} in use + ` +
      `${refusal.request} requested would reach ${refusal.usage + refusal.request}, at or past ` +
      `90 % of the limit of ${refusal.limit} (${refusal.threshold})`;

export const quotaExceeded = (
  refusal: QuotaRefusal,
  extra: Readonly<Record<string, unknown>> = {},
): GantryError =>
  new GantryError(ErrorCodes.QUOTA_EXCEEDED, describeQuotaRefusal(refusal), {
    details: { ...refusal, ...extra },
  });

/** Past this, a cached usage that disagrees with the tenant stream raises an alert (B4). */
export const DRIFT_ALERT_RATIO = 0.1;

export interface UsageDrift {
  readonly dimension: QuotaDimension;
  readonly cached: number;
  readonly actual: number;
  /** |cached - actual| over the larger of the two: 0 when they agree, 1 when one is zero. */
  readonly drift: number;
}

/** Every dimension where a cached usage disagrees with the truth, with how far (B4). */
export const usageDrift = (cached: Usage, actual: Usage): UsageDrift[] =>
  DIMENSIONS.flatMap((dimension) => {
    const c = cached[dimension];
    const a = actual[dimension];
    // Micro-units: float sums of the same numbers in another order are not drift.
    if (Math.abs(c - a) < 1e-6) return [];
    return [
      {
        dimension,
        cached: c,
        actual: a,
        drift: Math.abs(c - a) / Math.max(Math.abs(c), Math.abs(a)),
      },
    ];
  });
