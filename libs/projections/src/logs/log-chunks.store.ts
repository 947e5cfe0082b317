import { type Pool } from 'pg';
import { type LogChunk } from '@gantry/contracts';
import { countLineEnds } from './log-tail';
import { cursorKey, type FollowedChunk, type LogChunkPosition, type LogCursor } from './log-follow';

/** A Pool, a PoolClient (inside a transaction) or anything else that answers queries. */
export type LogDb = Pick<Pool, 'query'>;

export const LOG_CHUNKS_TABLE = 'log_chunks';

/**
 * `at` at full precision in one fixed format, so the strings sort like the timestamps and a
 * keyset bound read back is exactly the stored value.
 */
const COLUMNS = `attempt, rank, seq, stream, data, eof, exit_code,
  to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`;

interface ChunkRow {
  attempt: number;
  rank: number;
  seq: number;
  stream: 'stdout' | 'stderr';
  data: string;
  at: string;
  eof: boolean;
  exit_code: number | null;
}

const toChunk = (row: ChunkRow): FollowedChunk => ({
  attempt: row.attempt,
  rank: row.rank,
  seq: row.seq,
  stream: row.stream,
  data: row.data,
  at: row.at,
  eof: row.eof,
  exitCode: row.exit_code,
});

/** Postgres text cannot hold NUL; a process may print one. It is shown as U+FFFD instead. */
const storable = (data: string): string => data.replace(/\u0000/g, '\uFFFD');

/**
 * Inserts chunks in one statement; a chunk already stored (a redelivery, or a duplicate within
 * the batch) is skipped, never overwritten: the first write of a (job, attempt, rank, seq) wins.
 * Returns how many rows were new.
 */
export const insertLogChunks = async (db: LogDb, chunks: readonly LogChunk[]): Promise<number> => {
  if (chunks.length === 0) return 0;
  const result = await db.query(
    `INSERT INTO log_chunks (tenant, job_id, attempt, rank, seq, stream, data, at, eof, exit_code)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::int[], $6::text[],
                          $7::text[], $8::timestamptz[], $9::boolean[], $10::int[])
     ON CONFLICT DO NOTHING`,
    [
      chunks.map((c) => c.tenant),
      chunks.map((c) => c.jobId),
      chunks.map((c) => c.attempt),
      chunks.map((c) => c.rank),
      chunks.map((c) => c.seq),
      chunks.map((c) => c.stream),
      chunks.map((c) => storable(c.data)),
      chunks.map((c) => c.at),
      chunks.map((c) => c.eof),
      chunks.map((c) => c.exitCode ?? null),
    ],
  );
  return result.rowCount ?? 0;
};

export interface ChunksAfterQuery {
  /** Every (attempt, rank) to look at; a rank absent from the cursor is read from seq 0. */
  readonly ranks: readonly { readonly attempt: number; readonly rank: number }[];
  readonly cursor: LogCursor;
  /** Per rank, so one chatty rank cannot starve the others. */
  readonly limitPerRank: number;
}

/**
 * The chunks after a follower's cursor, each rank read as a range of its primary key (seq above
 * the cursor), so a poll costs what is new, not the job's whole log.
 */
export const readLogChunksAfter = async (
  db: LogDb,
  tenant: string,
  jobId: string,
  query: ChunksAfterQuery,
): Promise<FollowedChunk[]> => {
  if (query.ranks.length === 0) return [];
  const { rows } = await db.query<ChunkRow>(
    `SELECT x.* FROM unnest($3::int[], $4::int[], $5::int[]) AS c(attempt, rank, seq)
     CROSS JOIN LATERAL (
       SELECT ${COLUMNS} FROM log_chunks l
       WHERE l.tenant = $1 AND l.job_id = $2 AND l.attempt = c.attempt AND l.rank = c.rank
         AND l.seq > c.seq
       ORDER BY l.seq LIMIT $6) x`,
    [
      tenant,
      jobId,
      query.ranks.map((r) => r.attempt),
      query.ranks.map((r) => r.rank),
      query.ranks.map((r) => query.cursor.get(cursorKey(r.attempt, r.rank)) ?? -1),
      query.limitPerRank,
    ],
  );
  return rows.map(toChunk);
};

/** Where each rank of an attempt ended (its eof chunk), for those that have. */
export const readLogEnds = async (
  db: LogDb,
  tenant: string,
  jobId: string,
  attempt: number,
): Promise<LogChunkPosition[]> => {
  const { rows } = await db.query<{ rank: number; seq: number }>(
    `SELECT rank, seq FROM log_chunks
     WHERE tenant = $1 AND job_id = $2 AND attempt = $3 AND eof`,
    [tenant, jobId, attempt],
  );
  return rows.map((row) => ({ attempt, rank: row.rank, seq: row.seq }));
};

export interface TailQuery {
  readonly attempt: number;
  readonly rank?: number;
  /** Line ends wanted; the reader stops once it has this many plus the ranks' cut first lines. */
  readonly lines: number;
  readonly pageSize?: number;
}

/**
 * The newest chunks of an attempt, enough to hold the last `lines` lines, in ascending order.
 * Reads backwards by time in pages (the log_chunks_by_time index), so a long log costs only its
 * tail.
 */
export const readLogTail = async (
  db: LogDb,
  tenant: string,
  jobId: string,
  query: TailQuery,
): Promise<FollowedChunk[]> => {
  const pageSize = query.pageSize ?? 1_000;
  const collected: FollowedChunk[] = [];
  let lineEnds = 0;
  let before: FollowedChunk | undefined;
  for (;;) {
    const params: unknown[] = [tenant, jobId, query.attempt];
    const where = ['tenant = $1', 'job_id = $2', 'attempt = $3'];
    if (query.rank !== undefined) {
      params.push(query.rank);
      where.push(`rank = $${params.length}`);
    }
    if (before !== undefined) {
      params.push(before.at, before.rank, before.seq);
      const n = params.length;
      where.push(`(at, rank, seq) < ($${n - 2}::timestamptz, $${n - 1}::int, $${n}::int)`);
    }
    params.push(pageSize);
    const { rows } = await db.query<ChunkRow>(
      `SELECT ${COLUMNS} FROM log_chunks WHERE ${where.join(' AND ')}
       ORDER BY at DESC, rank DESC, seq DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.map(toChunk);
    collected.push(...page);
    lineEnds += countLineEnds(page);
    before = page[page.length - 1];
    const streams = new Set(collected.map((c) => `${c.rank}:${c.stream}`)).size;
    if (page.length < pageSize || lineEnds > query.lines + streams) break;
  }
  return collected.reverse();
};
