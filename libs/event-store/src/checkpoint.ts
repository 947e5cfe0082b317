/**
 * A position in the store's read order: (transaction id, global position). Both are Postgres
 * bigints, kept as decimal strings so no precision is lost in JavaScript.
 */
export interface Checkpoint {
  readonly transactionId: string;
  readonly position: string;
}

const DECIMAL = /^\d+$/;

export const isCheckpoint = (value: unknown): value is Checkpoint =>
  typeof value === 'object' &&
  value !== null &&
  DECIMAL.test(String((value as Checkpoint).transactionId)) &&
  DECIMAL.test(String((value as Checkpoint).position));

/** Orders two checkpoints the way readAll does: by transaction, then by position. */
export const compareCheckpoints = (a: Checkpoint, b: Checkpoint): number => {
  const tx = BigInt(a.transactionId) - BigInt(b.transactionId);
  if (tx !== 0n) return tx < 0n ? -1 : 1;
  const pos = BigInt(a.position) - BigInt(b.position);
  return pos === 0n ? 0 : pos < 0n ? -1 : 1;
};
