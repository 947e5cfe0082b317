import { compareFollowOrder, type FollowedChunk } from './log-follow';

/**
 * The last lines of one attempt, for `GET /v1/jobs/{id}/logs?tail=N`. Chunks end anywhere, not
 * at line ends, so lines are put back together per (rank, stream) first; then the ranks' lines
 * are interleaved by time (a line's time is that of the chunk holding its end), the order in
 * which they were written, with rank and seq breaking ties.
 */
export interface TailOptions {
  readonly lines: number;
  /** `[rank N] ` before each line: for a gang, whose output interleaves. */
  readonly prefixRanks: boolean;
}

interface Line {
  readonly text: string;
  readonly end: FollowedChunk;
  readonly index: number;
}

/**
 * `chunks` is any contiguous-to-the-end stretch of the attempt's chunks (the reader goes
 * backwards from the newest). Where a rank's stretch does not start at seq 0, its first line may
 * be cut, so that fragment is dropped; the reader fetches enough for it not to matter.
 */
export const tailLines = (chunks: readonly FollowedChunk[], options: TailOptions): string => {
  const byStream = new Map<string, FollowedChunk[]>();
  const firstSeq = new Map<number, number>();
  for (const chunk of [...chunks].sort((a, b) => a.rank - b.rank || a.seq - b.seq)) {
    const key = `${chunk.rank}:${chunk.stream}`;
    byStream.set(key, [...(byStream.get(key) ?? []), chunk]);
    if (!firstSeq.has(chunk.rank)) firstSeq.set(chunk.rank, chunk.seq);
  }
  const lines: Line[] = [];
  for (const streamChunks of byStream.values()) {
    const first = streamChunks[0];
    if (!first) continue;
    let dropFirst = firstSeq.get(first.rank) !== 0;
    let pending = '';
    let index = 0;
    for (const chunk of streamChunks) {
      const parts = (pending + chunk.data).split('\n');
      pending = parts.pop() ?? '';
      for (const text of parts) {
        if (dropFirst) {
          dropFirst = false;
          continue;
        }
        lines.push({ text, end: chunk, index: index++ });
      }
    }
    const last = streamChunks[streamChunks.length - 1];
    if (pending !== '' && !dropFirst && last) lines.push({ text: pending, end: last, index });
  }
  lines.sort((a, b) => compareFollowOrder(a.end, b.end) || a.index - b.index);
  const kept = lines.slice(Math.max(0, lines.length - options.lines));
  return kept
    .map((line) =>
      options.prefixRanks ? `[rank ${line.end.rank}] ${line.text}\n` : `${line.text}\n`,
    )
    .join('');
};

/** How many line ends a stretch holds: the reader's measure of "enough". */
export const countLineEnds = (chunks: readonly Pick<FollowedChunk, 'data'>[]): number =>
  chunks.reduce((n, chunk) => n + (chunk.data.split('\n').length - 1), 0);
