import { z } from 'zod';
import { TenantIdSchema } from '../ids';
import { defineMessage, type MessageOf } from '../registry';

/**
 * Tenant events (FEATURES.md B5, I1). Admission is their only writer (ARCHITECTURE.md, services
 * table), through the tenant aggregate in @gantry/domain. One stream per tenant, `tenant-<id>`,
 * whose envelopes carry the tenant id itself as their tenant.
 *
 * An API key is never in an event: only its public id and a hash of its secret are. The raw key
 * exists once, in the reply to the command that made it (issue 3: "shown once, stored only
 * hashed").
 */
const Timestamp = z.iso.datetime({ offset: true });
/** An amount in the price book's currency units; never negative. */
const Money = z.number().nonnegative().max(1_000_000_000_000);

/**
 * A tenant's limits; every dimension optional (absent: no limit on it), every value positive.
 * Strict, so a misspelt dimension is refused rather than silently meaning "no limit".
 */
export const TenantQuotasSchema = z.strictObject({
  cores: z.number().positive().max(1_000_000).optional(),
  memoryMiB: z.number().int().positive().max(1_000_000_000).optional(),
  gpus: z.number().int().positive().max(1_000_000).optional(),
  concurrentJobs: z.number().int().positive().max(10_000_000).optional(),
  /** Bytes the tenant's staged files hold at once (B1). */
  storageBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  /** Bytes uploaded to Gantry per calendar month, UTC (B1). */
  ingressBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  /** Bytes downloaded from Gantry (outputs) per calendar month, UTC (B1). */
  egressBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  /** GPUs per pool (B1): where GPUs differ by pool, a tenant's share of each one's. */
  gpusByPool: z
    .record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), z.number().int().positive().max(1_000_000))
    .optional(),
});
export type TenantQuotas = z.output<typeof TenantQuotasSchema>;

export const TenantNameSchema = z.string().trim().min(1).max(200);

/** The public half of an API key: `gk_<keyId>_<secret>` (see @gantry/domain tenant/api-key.ts). */
export const ApiKeyIdSchema = z.string().regex(/^[0-9a-f]{24}$/, 'key ids are 24 hex chars');
/** `<algorithm>:<base64url digest>`; the algorithm prefix lets a later scheme coexist. */
export const ApiKeyHashSchema = z
  .string()
  .regex(/^hmac-sha256:[A-Za-z0-9_-]{43}$/, 'an hmac-sha256 digest, base64url');

export const ApiKeyRecordSchema = z.strictObject({
  keyId: ApiKeyIdSchema,
  hash: ApiKeyHashSchema,
  createdAt: Timestamp,
});
export type ApiKeyRecord = z.output<typeof ApiKeyRecordSchema>;

export const TenantCreatedData = z.strictObject({
  id: TenantIdSchema,
  name: TenantNameSchema,
  quotas: TenantQuotasSchema,
  apiKey: ApiKeyRecordSchema,
  createdAt: Timestamp,
});
export const TenantCreated = defineMessage('TenantCreated', 1, TenantCreatedData);

/** The quotas replace the previous ones as a whole (absent dimensions: no limit). */
export const TenantQuotasSetData = z.strictObject({
  id: TenantIdSchema,
  quotas: TenantQuotasSchema,
  setAt: Timestamp,
});
export const TenantQuotasSet = defineMessage('TenantQuotasSet', 1, TenantQuotasSetData);

/** A new key, and the key it replaces revoked in the same fact (null: there was no live key). */
export const ApiKeyRotatedData = z.strictObject({
  id: TenantIdSchema,
  apiKey: ApiKeyRecordSchema,
  revokedKeyId: ApiKeyIdSchema.nullable(),
  rotatedAt: Timestamp,
});
export const ApiKeyRotated = defineMessage('ApiKeyRotated', 1, ApiKeyRotatedData);

export const ApiKeyRevokedData = z.strictObject({
  id: TenantIdSchema,
  keyId: ApiKeyIdSchema,
  revokedAt: Timestamp,
});
export const ApiKeyRevoked = defineMessage('ApiKeyRevoked', 1, ApiKeyRevokedData);

/**
 * Usage (FEATURES.md B2): a job's share of the tenant's quotas, held from admission until the job
 * ends. The tenant's usage is the sum over its reserved jobs, decided on this stream so that
 * optimistic concurrency makes racing admissions see each other. `cores`, `memoryMiB` and `gpus`
 * are the job's per-node resources x nodes; each reserved job counts one against `concurrentJobs`.
 * v1 held cores only; read as v2, its memory and GPUs are 0 (they were not guarded then).
 */
const ReservedJobId = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/);
export const JobCapacityReservedData = z.strictObject({
  id: TenantIdSchema,
  jobId: ReservedJobId,
  cores: z.number().nonnegative(),
  memoryMiB: z.number().int().nonnegative(),
  gpus: z.number().int().nonnegative(),
  /** The pool the job runs in, for per-pool quotas (null: reserved before pools counted). */
  pool: z.string().min(1).max(64).nullable(),
  /** What an hour of the whole job costs at the prices of its admission (B3): locked per job. */
  ratePerHour: Money,
  /** ratePerHour x expected runtime: what the budget guard counts while the job holds it. */
  projectedCost: Money,
  reservedAt: Timestamp,
});
export const JobCapacityReserved = defineMessage(
  'JobCapacityReserved',
  3,
  JobCapacityReservedData,
  {
    1: (data) => ({ ...data, memoryMiB: 0, gpus: 0 }),
    // v2 reservations were made before prices existed: they cost nothing, in no known pool.
    2: (data) => ({ ...data, pool: null, ratePerHour: 0, projectedCost: 0 }),
  },
);

/** The job ended (or never ran): its reservation no longer counts. */
export const JobCapacityReleasedData = z.strictObject({
  id: TenantIdSchema,
  jobId: ReservedJobId,
  /** The job's real running time, summed over its attempts (B3: actual cost). */
  runtimeSeconds: z.number().nonnegative(),
  /** ratePerHour x runtime: the spend this job adds to the month it ended in. */
  cost: Money,
  releasedAt: Timestamp,
});
export const JobCapacityReleased = defineMessage(
  'JobCapacityReleased',
  2,
  JobCapacityReleasedData,
  // Released before costs were counted: nothing was spent.
  { 1: (data) => ({ ...data, runtimeSeconds: 0, cost: 0 }) },
);

/**
 * A tenant's monthly budget (B3), in the price book's currency units. `onExhausted` is the
 * tenant's choice of what the auto-pause does to jobs already running: let them finish, or stop
 * them. null: no budget.
 */
export const TenantBudgetSchema = z.strictObject({
  monthly: z.number().positive().max(1_000_000_000_000),
  onExhausted: z.enum(['finish', 'stop']).default('finish'),
});
export type TenantBudget = z.output<typeof TenantBudgetSchema>;

export const TenantBudgetSetData = z.strictObject({
  id: TenantIdSchema,
  budget: TenantBudgetSchema.nullable(),
  setAt: Timestamp,
});
export const TenantBudgetSet = defineMessage('TenantBudgetSet', 1, TenantBudgetSetData);

/**
 * The kill switch (B3): while paused, new submissions are refused and queued jobs are held.
 * `budget`: accrued spend reached the monthly budget; `admin`: an admin pulled it.
 */
export const TenantPausedData = z.strictObject({
  id: TenantIdSchema,
  reason: z.enum(['budget', 'admin']),
  /** The month's spend (ended jobs plus what running ones had accrued) when it was pulled. */
  spend: Money,
  budget: z.number().positive().nullable(),
  pausedAt: Timestamp,
});
export const TenantPaused = defineMessage('TenantPaused', 1, TenantPausedData);

/**
 * Service restored: by an admin, by a budget change that leaves room again, or by a new month.
 * `overBudget`: an admin resumed a tenant still at its budget, which suspends the auto-pause until
 * the budget changes or the month turns (else it would trip again at once). Who did it is the
 * envelope's actor, as for every change.
 */
export const TenantResumedData = z.strictObject({
  id: TenantIdSchema,
  cause: z.enum(['admin', 'budget-changed', 'new-month']),
  overBudget: z.boolean(),
  resumedAt: Timestamp,
});
export const TenantResumed = defineMessage('TenantResumed', 1, TenantResumedData);

/**
 * Bytes (B1). A staged file's bytes count against storage while it exists and against the
 * month's ingress once; a download of an output counts against the month's egress. Each fact
 * carries the totals after it, so a reader needs no sum of the history.
 */
const Bytes = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const MonthBytes = z.strictObject({ month: z.string().regex(/^\d{4}-\d{2}$/), bytes: Bytes });
const FileIdField = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/);

export const StorageChargedData = z.strictObject({
  id: TenantIdSchema,
  fileId: FileIdField,
  bytes: Bytes,
  storageBytes: Bytes,
  ingress: MonthBytes,
  chargedAt: Timestamp,
});
export const StorageCharged = defineMessage('StorageCharged', 1, StorageChargedData);

export const StorageReleasedData = z.strictObject({
  id: TenantIdSchema,
  fileId: FileIdField,
  bytes: Bytes,
  storageBytes: Bytes,
  releasedAt: Timestamp,
});
export const StorageReleased = defineMessage('StorageReleased', 1, StorageReleasedData);

export const EgressChargedData = z.strictObject({
  id: TenantIdSchema,
  /** What was downloaded: `<jobId>/<output name>`, or a file id. */
  ref: z.string().min(1).max(512),
  bytes: Bytes,
  egress: MonthBytes,
  chargedAt: Timestamp,
});
export const EgressCharged = defineMessage('EgressCharged', 1, EgressChargedData);

export const tenantEventDefinitions = [
  TenantCreated,
  TenantQuotasSet,
  ApiKeyRotated,
  ApiKeyRevoked,
  JobCapacityReserved,
  JobCapacityReleased,
  TenantBudgetSet,
  TenantPaused,
  TenantResumed,
  StorageCharged,
  StorageReleased,
  EgressCharged,
] as const;

/** The union of tenant events, derived from the definitions so the two cannot drift apart. */
export type TenantEvent = MessageOf<(typeof tenantEventDefinitions)[number]>;
export type TenantEventType = TenantEvent['type'];

/**
 * The reason on the holds a pause puts on a tenant's waiting jobs: what tells them apart from the
 * tenant's own holds, so that a resume releases these and only these.
 */
export const TENANT_PAUSE_HOLD_REASON = 'tenant paused';
