export { CreateLogChunks1763910000100, logMigrations } from './log-chunks.migration';
export {
  LOG_CHUNKS_TABLE,
  insertLogChunks,
  readLogChunksAfter,
  readLogEnds,
  readLogTail,
  type ChunksAfterQuery,
  type LogDb,
  type TailQuery,
} from './log-chunks.store';
export {
  MAX_CURSOR_RANKS,
  TERMINAL_JOB_STATES,
  compareFollowOrder,
  cursorKey,
  decodeLogCursor,
  deliverContiguous,
  emptyLogCursor,
  encodeLogCursor,
  followComplete,
  type Delivery,
  type FollowFilter,
  type FollowedChunk,
  type FollowedJob,
  type LogChunkPosition,
  type LogCursor,
} from './log-follow';
export { countLineEnds, tailLines, type TailOptions } from './log-tail';
