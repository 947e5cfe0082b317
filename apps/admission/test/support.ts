import { SYSTEM_TENANT, type CommandEnvelope } from '@gantry/contracts';
import { aCommandEnvelope } from '@gantry/service-testing';

export { refusalOf } from '@gantry/service-testing';

/** An admin's command envelope; valid by default. */
export const anAdminCommand = (
  type: string,
  data: Record<string, unknown>,
  metadata: Partial<CommandEnvelope['metadata']> = {},
): CommandEnvelope =>
  aCommandEnvelope(type, data, { tenant: SYSTEM_TENANT, actor: 'admin:ops', ...metadata });
