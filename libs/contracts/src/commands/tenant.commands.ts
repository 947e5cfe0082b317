import { z } from 'zod';
import { TenantIdSchema } from '../ids';
import { defineMessage, type MessageOf } from '../registry';
import {
  ApiKeyIdSchema,
  TenantBudgetSchema,
  TenantNameSchema,
  TenantQuotasSchema,
} from '../events/tenant.events';

/**
 * Admin commands on tenants (FEATURES.md B5), answered by admission on
 * `<ns>.cmd.admission.<verb>`. Only an admin actor may send them; the key material a create or a
 * rotation needs is drawn by the handler, never carried by the command.
 */
export const CreateTenant = defineMessage(
  'CreateTenant',
  1,
  z.strictObject({ id: TenantIdSchema, name: TenantNameSchema, quotas: TenantQuotasSchema }),
);
export const SetTenantQuotas = defineMessage(
  'SetTenantQuotas',
  1,
  z.strictObject({ id: TenantIdSchema, quotas: TenantQuotasSchema }),
);
export const RotateApiKey = defineMessage(
  'RotateApiKey',
  1,
  z.strictObject({ id: TenantIdSchema }),
);
export const RevokeApiKey = defineMessage(
  'RevokeApiKey',
  1,
  z.strictObject({ id: TenantIdSchema, keyId: ApiKeyIdSchema }),
);

/**
 * Admission's own commands on a tenant's usage (FEATURES.md B2), decided by the tenant aggregate:
 * reserve a job's cores and one concurrent-job slot (refused with QUOTA_EXCEEDED past the 90 %
 * guard), and release them when the job ends. Both are idempotent per job.
 */
const JobIdField = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/);
const MoneyField = z.number().nonnegative().max(1_000_000_000_000);
/** v2 adds memory and GPUs; a v1 sender reserved cores only. */
/** v3 adds the pool and the job's price (its rate per hour and projected cost, B3). */
export const ReserveJobCapacity = defineMessage(
  'ReserveJobCapacity',
  3,
  z.strictObject({
    id: TenantIdSchema,
    jobId: JobIdField,
    cores: z.number().nonnegative().max(100_000_000),
    memoryMiB: z.number().int().nonnegative().max(1_000_000_000_000),
    gpus: z.number().int().nonnegative().max(100_000_000),
    pool: z.string().min(1).max(64).nullable(),
    ratePerHour: MoneyField,
    projectedCost: MoneyField,
  }),
  {
    1: (data) => ({ ...data, memoryMiB: 0, gpus: 0 }),
    2: (data) => ({ ...data, pool: null, ratePerHour: 0, projectedCost: 0 }),
  },
);
/** v2 carries the job's real runtime, which the aggregate prices at the job's locked rate. */
export const ReleaseJobCapacity = defineMessage(
  'ReleaseJobCapacity',
  2,
  z.strictObject({
    id: TenantIdSchema,
    jobId: JobIdField,
    runtimeSeconds: z.number().nonnegative().max(1_000_000_000),
  }),
  { 1: (data) => ({ ...data, runtimeSeconds: 0 }) },
);

/** B3/B5: an admin sets (or, with null, removes) a tenant's monthly budget. */
export const SetTenantBudget = defineMessage(
  'SetTenantBudget',
  1,
  z.strictObject({ id: TenantIdSchema, budget: TenantBudgetSchema.nullable() }),
);
/**
 * Pull the kill switch. From an admin (`admin`), or from admission's budget watch (`budget`),
 * which says what running jobs have accrued so far: the tenant stream knows only ended jobs' cost.
 */
export const PauseTenant = defineMessage(
  'PauseTenant',
  1,
  z.strictObject({
    id: TenantIdSchema,
    reason: z.enum(['budget', 'admin']),
    runningAccrued: MoneyField.default(0),
  }),
);
/** From an admin, or from the budget watch when a new month gives a budget-paused tenant room. */
export const ResumeTenant = defineMessage(
  'ResumeTenant',
  1,
  z.strictObject({ id: TenantIdSchema, cause: z.enum(['admin', 'new-month']).default('admin') }),
);

/**
 * B1: staging charges a staged file's bytes before it makes the upload the file's (refused past
 * 90 % of the storage or the month's ingress quota), and releases them if the upload then loses;
 * the gateway charges a download's bytes before it serves them. Charges per file are idempotent.
 */
const BytesField = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
export const ChargeStorage = defineMessage(
  'ChargeStorage',
  1,
  z.strictObject({ id: TenantIdSchema, fileId: JobIdField, bytes: BytesField }),
);
export const ReleaseStorage = defineMessage(
  'ReleaseStorage',
  1,
  z.strictObject({ id: TenantIdSchema, fileId: JobIdField }),
);
export const ChargeEgress = defineMessage(
  'ChargeEgress',
  1,
  z.strictObject({ id: TenantIdSchema, ref: z.string().min(1).max(512), bytes: BytesField }),
);

export const tenantCommandDefinitions = [
  CreateTenant,
  SetTenantQuotas,
  RotateApiKey,
  RevokeApiKey,
  ReserveJobCapacity,
  ReleaseJobCapacity,
  SetTenantBudget,
  PauseTenant,
  ResumeTenant,
  ChargeStorage,
  ReleaseStorage,
  ChargeEgress,
] as const;

export type TenantCommand = MessageOf<(typeof tenantCommandDefinitions)[number]>;
export type TenantCommandType = TenantCommand['type'];
