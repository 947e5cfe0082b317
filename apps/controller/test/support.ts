import { randomUUID } from 'node:crypto';
import { type CommandEnvelope } from '@gantry/contracts';

export const aSpec = (): Record<string, unknown> => ({
  command: ['sh', '-c', 'echo hello'],
  resources: { cpu: 1, memoryMiB: 256 },
});

/** A command envelope from a tenant; valid by default. */
export const aCommand = (
  type: string,
  data: Record<string, unknown>,
  metadata: Partial<CommandEnvelope['metadata']> = {},
): CommandEnvelope => ({
  id: randomUUID(),
  type,
  schemaVersion: 1,
  data,
  metadata: {
    tenant: 'acme',
    occurredAt: new Date().toISOString(),
    causationId: null,
    correlationId: `corr-${randomUUID()}`,
    actor: 'key-acme-1',
    ...metadata,
  },
});

export const refusalOf = async (
  promise: Promise<unknown>,
): Promise<{ code: string; retryable: boolean }> =>
  promise.then(
    (value) => ({ code: `resolved ${JSON.stringify(value)}`, retryable: false }),
    (err: { code?: string; retryable?: boolean }) => ({
      code: err.code ?? String(err),
      retryable: err.retryable ?? false,
    }),
  );
