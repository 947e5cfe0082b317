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

export const tenantCommandDefinitions = [
  CreateTenant,
  SetTenantQuotas,
  RotateApiKey,
  RevokeApiKey,
] as const;

export type TenantCommand = MessageOf<(typeof tenantCommandDefinitions)[number]>;
export type TenantCommandType = TenantCommand['type'];
