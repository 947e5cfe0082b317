import { ErrorCodes, GantryError } from '@gantry/contracts';

/**
 * The pure half of following a job's logs (issue 3: "a follower that reconnects misses nothing
 * and sees nothing twice"). A follower's position is, per (attempt, rank), the last `seq` it was
 * given. Because `seq` is dense per (job, attempt, rank) from 0 and only a contiguous prefix is
 * ever delivered, that one number per rank says exactly what the follower has: everything up to
 * it, nothing after it. The cursor is that map written compactly; it is the SSE event id, so a
 * browser's automatic reconnect (Last-Event-ID) resumes exactly where it stopped.
 */

/** Key `<attempt>.<rank>` -> last seq delivered. Absent means nothing delivered for that rank. */
export type LogCursor = ReadonlyMap<string, number>;

export interface LogChunkPosition {
  readonly attempt: number;
  readonly rank: number;
  readonly seq: number;
}

export interface FollowedChunk extends LogChunkPosition {
  readonly stream: 'stdout' | 'stderr';
  readonly data: string;
  /** ISO-8601, UTC. */
  readonly at: string;
  readonly eof: boolean;
  readonly exitCode: number | null;
}

export const MAX_CURSOR_RANKS = 4_096;
const MAX_CURSOR_LENGTH = 65_536;
const PART = /^(\d{1,9})\.(\d{1,4})\.(\d{1,10})$/;
const SEPARATOR = '_';

export const cursorKey = (attempt: number, rank: number): string => `${attempt}.${rank}`;

const splitKey = (key: string): [number, number] => {
  const [attempt, rank] = key.split('.').map(Number);
  return [attempt ?? 0, rank ?? 0];
};

export const emptyLogCursor = (): LogCursor => new Map();

/**
 * `<attempt>.<rank>.<seq>` per rank, ordered by (attempt, rank) and joined by `_`: one canonical
 * string per position, safe in a header, an SSE id and a query string without escaping.
 */
export const encodeLogCursor = (cursor: LogCursor): string =>
  [...cursor.entries()]
    .map(([key, seq]) => ({ key: splitKey(key), seq }))
    .sort((a, b) => a.key[0] - b.key[0] || a.key[1] - b.key[1])
    .map(({ key: [attempt, rank], seq }) => `${attempt}.${rank}.${seq}`)
    .join(SEPARATOR);

const badCursor = (reason: string): GantryError =>
  new GantryError(ErrorCodes.VALIDATION_FAILED, `invalid log cursor: ${reason}`, {
    details: { field: 'cursor' },
  });

/** The cursor of a Last-Event-ID header or `?cursor=`; empty means from the beginning. */
export const decodeLogCursor = (text: string): LogCursor => {
  const cursor = new Map<string, number>();
  const trimmed = text.trim();
  if (trimmed === '') return cursor;
  if (trimmed.length > MAX_CURSOR_LENGTH) throw badCursor('too long');
  const parts = trimmed.split(SEPARATOR);
  if (parts.length > MAX_CURSOR_RANKS) throw badCursor('too many ranks');
  for (const part of parts) {
    const match = PART.exec(part);
    if (!match) throw badCursor(`malformed position ${JSON.stringify(part.slice(0, 40))}`);
    const attempt = Number(match[1]);
    const rank = Number(match[2]);
    const seq = Number(match[3]);
    if (attempt < 1 || rank > 1_023 || !Number.isSafeInteger(seq))
      throw badCursor(`position out of range ${JSON.stringify(part)}`);
    const key = cursorKey(attempt, rank);
    if (cursor.has(key)) throw badCursor(`rank ${rank} of attempt ${attempt} given twice`);
    cursor.set(key, seq);
  }
  return cursor;
};

/** Chunks in follow order: by time, then attempt, rank and seq (the same order the reads use). */
export const compareFollowOrder = (a: FollowedChunk, b: FollowedChunk): number =>
  (a.at < b.at ? -1 : a.at > b.at ? 1 : 0) ||
  a.attempt - b.attempt ||
  a.rank - b.rank ||
  a.seq - b.seq;

export interface Delivery {
  /** In delivery order; each rank's chunks in seq order. */
  readonly chunks: readonly { readonly chunk: FollowedChunk; readonly cursor: string }[];
  readonly cursor: LogCursor;
}

/**
 * What may be delivered after `cursor` out of what was read: per (attempt, rank) only the run
 * of seqs that continues the cursor without a hole. A chunk after a hole waits (the relay has
 * not stored the missing one yet), so no cursor ever claims a seq that was not sent; a chunk at
 * or below the cursor was already sent and is dropped. Each delivered chunk carries the cursor
 * as of itself, the SSE id a reconnect resumes from.
 */
export const deliverContiguous = (cursor: LogCursor, read: readonly FollowedChunk[]): Delivery => {
  const next = new Map(cursor);
  const held = new Map<string, Map<number, FollowedChunk>>();
  const out: { chunk: FollowedChunk; cursor: string }[] = [];
  const expected = (key: string): number => (next.get(key) ?? -1) + 1;
  const take = (key: string, chunk: FollowedChunk): void => {
    next.set(key, chunk.seq);
    out.push({ chunk, cursor: encodeLogCursor(next) });
  };
  for (const chunk of [...read].sort(compareFollowOrder)) {
    const key = cursorKey(chunk.attempt, chunk.rank);
    if (chunk.seq < expected(key)) continue;
    if (chunk.seq > expected(key)) {
      const waiting = held.get(key) ?? new Map<number, FollowedChunk>();
      waiting.set(chunk.seq, chunk);
      held.set(key, waiting);
      continue;
    }
    take(key, chunk);
    const waiting = held.get(key);
    for (let after = waiting?.get(expected(key)); after; after = waiting?.get(expected(key))) {
      waiting?.delete(after.seq);
      take(key, after);
    }
  }
  return { chunks: out, cursor: next };
};

/** Job states after which no attempt will run again (D1, plus a rejected submission). */
export const TERMINAL_JOB_STATES: ReadonlySet<string> = new Set([
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'DEAD_LETTER',
  'REJECTED',
]);

export interface FollowedJob {
  readonly state: string;
  /** The last attempt started (0: none ever ran). */
  readonly attempt: number;
  /** Ranks per attempt (the gang size). */
  readonly nodes: number;
}

export interface FollowFilter {
  readonly attempt?: number;
  readonly rank?: number;
}

/**
 * Whether a follower has everything there will ever be: the job is terminal and every rank of
 * its final attempt (or the filtered one) has had its eof chunk delivered.
 */
export const followComplete = (
  job: FollowedJob,
  eofs: readonly LogChunkPosition[],
  cursor: LogCursor,
  filter: FollowFilter = {},
): boolean => {
  if (!TERMINAL_JOB_STATES.has(job.state)) return false;
  const attempt = filter.attempt ?? job.attempt;
  if (attempt < 1) return true;
  const ranks =
    filter.rank === undefined ? Array.from({ length: job.nodes }, (_, r) => r) : [filter.rank];
  return ranks.every((rank) => {
    const delivered = cursor.get(cursorKey(attempt, rank));
    return (
      delivered !== undefined &&
      eofs.some((eof) => eof.attempt === attempt && eof.rank === rank && eof.seq <= delivered)
    );
  });
};
