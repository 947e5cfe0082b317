import { randomUUID } from 'node:crypto';
import { commandRegistry, type CommandEnvelope } from '@gantry/contracts';

/** The current version of a known command; 1 for a made-up one (tests of unknown types). */
const versionOf = (type: string): number => {
  try {
    return commandRegistry.currentVersion(type);
  } catch {
    return 1;
  }
};

/** A command envelope, valid by default; tests override what they are about. */
export const aCommandEnvelope = (
  type: string,
  data: Record<string, unknown>,
  metadata: Partial<CommandEnvelope['metadata']> &
    Pick<CommandEnvelope['metadata'], 'tenant' | 'actor'>,
): CommandEnvelope => ({
  id: randomUUID(),
  type,
  schemaVersion: versionOf(type),
  data,
  metadata: {
    occurredAt: new Date().toISOString(),
    causationId: null,
    correlationId: `corr-${randomUUID()}`,
    ...metadata,
  },
});

/** The code a command was refused with (or `resolved …` when it was not), for table-style asserts. */
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
