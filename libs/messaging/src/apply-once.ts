import { type MigrationInterface } from 'typeorm';
import { type Pool, type PoolClient } from 'pg';
import { AppliedMessages1732400000000 } from './migrations/1732400000000-applied-messages';

/** The messaging lib's tables, for the shared migration runner (`runMigrations(url, migrations)`). */
export const messagingMigrations: readonly (new () => MigrationInterface)[] = [
  AppliedMessages1732400000000,
];

export type ApplyOnceResult<T> =
  { readonly applied: true; readonly result: T } | { readonly applied: false };

/**
 * Runs `effect` at most once per (consumer, messageId), however often the message arrives
 * (ARCHITECTURE.md invariant 3: at-least-once delivery, exactly-once effect).
 *
 * The marker row is inserted first, in the effect's transaction. A concurrent delivery of the same
 * message blocks on that row's key until the first commits (then sees a duplicate) or rolls back
 * (then applies it itself), so there is no window in which both apply. If the effect throws, the
 * marker goes with it and a redelivery can try again.
 */
export const applyOnce = async <T>(
  pool: Pool,
  consumer: string,
  messageId: string,
  effect: (tx: PoolClient) => Promise<T>,
): Promise<ApplyOnceResult<T>> => {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const marked = await client.query(
      'INSERT INTO applied_messages (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [consumer, messageId],
    );
    if (marked.rowCount === 0) {
      await client.query('ROLLBACK');
      return { applied: false };
    }
    const result = await effect(client);
    await client.query('COMMIT');
    return { applied: true, result };
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackFailure: unknown) => {
      // A connection that cannot roll back must not go back to the pool mid-transaction.
      broken =
        rollbackFailure instanceof Error ? rollbackFailure : new Error(String(rollbackFailure));
    });
    throw err;
  } finally {
    client.release(broken);
  }
};
