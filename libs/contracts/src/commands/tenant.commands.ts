import { z } from 'zod';
import { TenantIdSchema } from '../ids';
import { defineMessage, type MessageOf } from '../registry';
import { ApiKeyIdSchema, TenantNameSchema, TenantQuotasSchema } from '../events/tenant.events';

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
/** v2 adds memory and GPUs; a v1 sender reserved cores only. */
export const ReserveJobCapacity = defineMessage(
  'ReserveJobCapacity',
  2,
  z.strictObject({
    id: TenantIdSchema,
    jobId: JobIdField,
    cores: z.number().nonnegative().max(100_000_000),
    memoryMiB: z.number().int().nonnegative().max(1_000_000_000_000),
    gpus: z.number().int().nonnegative().max(100_000_000),
  }),
  { 1: (data) => ({ ...data, memoryMiB: 0, gpus: 0 }) },
);
export const ReleaseJobCapacity = defineMessage(
  'ReleaseJobCapacity',
  1,
  z.strictObject({ id: TenantIdSchema, jobId: JobIdField }),
);

export const tenantCommandDefinitions = [
  CreateTenant,
  SetTenantQuotas,
  RotateApiKey,
  RevokeApiKey,
  ReserveJobCapacity,
  ReleaseJobCapacity,
] as const;

export type TenantCommand = MessageOf<(typeof tenantCommandDefinitions)[number]>;
export type TenantCommandType = TenantCommand['type'];
