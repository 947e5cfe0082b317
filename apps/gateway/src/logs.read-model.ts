import { type Pool } from 'pg';
import {
  readLogChunksAfter,
  readLogEnds,
  readLogTail,
  type FollowedChunk,
  type FollowedJob,
  type LogChunkPosition,
  type LogCursor,
} from '@gantry/projections';

export interface LogRankFilter {
  readonly attempt?: number;
  readonly rank?: number;
}

/** Ranks read per (attempt, rank) per poll: one chatty rank cannot starve the others. */
const CHUNKS_PER_RANK = 256;

/**
 * Reads for the logs routes: the job (from job_summary, to know it exists for this tenant, its
 * gang size, last attempt and whether it has ended) and its chunks (from log_chunks). The
 * tenant is in every WHERE (invariant 7).
 */
export class LogsReadModel {
  constructor(private readonly pool: Pick<Pool, 'query'>) {}

  async job(tenant: string, jobId: string): Promise<FollowedJob | null> {
    const { rows } = await this.pool.query<FollowedJob>(
      'SELECT state, attempt, nodes FROM job_summary WHERE tenant = $1 AND job_id = $2',
      [tenant, jobId],
    );
    return rows[0] ?? null;
  }

  tail(
    tenant: string,
    jobId: string,
    query: { attempt: number; rank?: number; lines: number },
  ): Promise<FollowedChunk[]> {
    return readLogTail(this.pool, tenant, jobId, query);
  }

  /**
   * Every (attempt, rank) the job has had, or the filtered ones. The projection's attempt may lag
   * the relay by a moment; the cursor's attempts count too, and a new attempt's chunks are picked
   * up on the next poll once the projection has it.
   */
  chunksAfter(
    tenant: string,
    jobId: string,
    job: FollowedJob,
    cursor: LogCursor,
    filter: LogRankFilter,
  ): Promise<FollowedChunk[]> {
    const seen = [...cursor.keys()].map((key) => Number(key.split('.')[0]));
    const lastAttempt = Math.max(job.attempt, ...seen);
    const attempts =
      filter.attempt === undefined
        ? Array.from({ length: lastAttempt }, (_, i) => i + 1)
        : [filter.attempt];
    const ranks =
      filter.rank === undefined ? Array.from({ length: job.nodes }, (_, r) => r) : [filter.rank];
    return readLogChunksAfter(this.pool, tenant, jobId, {
      ranks: attempts.flatMap((attempt) => ranks.map((rank) => ({ attempt, rank }))),
      cursor,
      limitPerRank: CHUNKS_PER_RANK,
    });
  }

  ends(tenant: string, jobId: string, attempt: number): Promise<LogChunkPosition[]> {
    return readLogEnds(this.pool, tenant, jobId, attempt);
  }
}
