import { z } from 'zod';
import { TenantIdSchema } from '../ids';
import { defineMessage } from '../registry';
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

type CommandOf<D> = D extends {
  type: infer TType extends string;
  schema: infer TSchema extends z.ZodType;
}
  ? { readonly type: TType; readonly data: z.output<TSchema> }
  : never;

export type TenantCommand = CommandOf<(typeof tenantCommandDefinitions)[number]>;
export type TenantCommandType = TenantCommand['type'];
