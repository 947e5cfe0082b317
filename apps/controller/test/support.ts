import { type CommandEnvelope } from '@gantry/contracts';
import { aCommandEnvelope } from '@gantry/service-testing';

export { refusalOf } from '@gantry/service-testing';

export const aSpec = (): Record<string, unknown> => ({
  command: ['sh', '-c', 'echo hello'],
  resources: { cpu: 1, memoryMiB: 256 },
});

/** A command envelope from a tenant; valid by default. */
export const aCommand = (
  type: string,
  data: Record<string, unknown>,
  metadata: Partial<CommandEnvelope['metadata']> = {},
): CommandEnvelope =>
  aCommandEnvelope(type, data, { tenant: 'acme', actor: 'key-acme-1', ...metadata });
