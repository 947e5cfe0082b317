import { randomUUID } from 'node:crypto';
import { SYSTEM_TENANT, type CommandEnvelope } from '@gantry/contracts';

/** An admin's command envelope; valid by default. */
export const anAdminCommand = (
  type: string,
  data: Record<string, unknown>,
  metadata: Partial<CommandEnvelope['metadata']> = {},
): CommandEnvelope => ({
  id: randomUUID(),
  type,
  schemaVersion: 1,
  data,
  metadata: {
    tenant: SYSTEM_TENANT,
    occurredAt: new Date().toISOString(),
    causationId: null,
    correlationId: `corr-${randomUUID()}`,
    actor: 'admin:ops',
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
