import { type LogChunk } from '@gantry/contracts';

export type LogStream = LogChunk['stream'];

export interface LogChunkIdentity {
  readonly tenant: string;
  readonly jobId: string;
  readonly attempt: number;
  readonly rank: number;
  readonly leaseEpoch: number;
}

/** Schedules `fn` after `ms`; returns the cancel. Injected so batching is tested without real time. */
export type Schedule = (fn: () => void, ms: number) => () => void;

const realSchedule: Schedule = (fn, ms) => {
  const timer = setTimeout(fn, ms);
  return () => clearTimeout(timer);
};

export interface LogChunkWriterOptions {
  readonly identity: LogChunkIdentity;
  /** Publishes one chunk and resolves once it is stored (acked); called strictly one at a time, in seq order. */
  readonly publish: (chunk: LogChunk) => Promise<void>;
  /** A chunk that could not be published at all; the writer goes on with the next. */
  readonly onPublishError?: (chunk: LogChunk, err: unknown) => void;
  readonly clock?: () => Date;
  readonly schedule?: Schedule;
  /** A quiet line waits at most this long. */
  readonly flushMs?: number;
  /** A chatty job's lines go out in chunks of about this many bytes. */
  readonly maxBytes?: number;
}

export const LOG_FLUSH_MS = 50;
export const LOG_CHUNK_BYTES = 64 * 1024;

/**
 * Turns one rank's output lines into LogChunks: dense `seq` from 0, one stream per chunk, batched by
 * time and size so a chatty job does not cost a message per line while a quiet line still leaves
 * within `flushMs`. Publishes are chained, so acks come back in seq order and a reader never sees a
 * gap closed out of order. The last chunk has `eof` and the exit code.
 */
export class LogChunkWriter {
  private nextSeq = 0;
  private pending: { stream: LogStream; data: string; bytes: number } | undefined;
  private cancelTimer: (() => void) | undefined;
  private tail: Promise<void> = Promise.resolve();
  private ended = false;
  private readonly clock: () => Date;
  private readonly schedule: Schedule;
  private readonly flushMs: number;
  private readonly maxBytes: number;

  constructor(private readonly options: LogChunkWriterOptions) {
    this.clock = options.clock ?? (() => new Date());
    this.schedule = options.schedule ?? realSchedule;
    this.flushMs = options.flushMs ?? LOG_FLUSH_MS;
    this.maxBytes = options.maxBytes ?? LOG_CHUNK_BYTES;
  }

  /** One line of output, without its newline. */
  line(stream: LogStream, line: string): void {
    if (this.ended) return;
    if (this.pending !== undefined && this.pending.stream !== stream) this.flush();
    const text = `${line}\n`;
    const bytes = Buffer.byteLength(text);
    if (this.pending === undefined) this.pending = { stream, data: text, bytes };
    else {
      this.pending.data += text;
      this.pending.bytes += bytes;
    }
    if (this.pending.bytes >= this.maxBytes) this.flush();
    else this.cancelTimer ??= this.schedule(() => this.flush(), this.flushMs);
  }

  /** Sends what is pending now. */
  flush(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    this.enqueue(pending.stream, pending.data, false);
  }

  /** The last chunk, carrying the exit code; resolves once every chunk of the rank is published. */
  finish(exitCode: number): Promise<void> {
    if (!this.ended) {
      this.cancelTimer?.();
      this.cancelTimer = undefined;
      const pending = this.pending;
      this.pending = undefined;
      this.ended = true;
      this.enqueue(pending?.stream ?? 'stdout', pending?.data ?? '', true, exitCode);
    }
    return this.tail;
  }

  /** How many chunks were handed to publish so far (the next seq). */
  get chunkCount(): number {
    return this.nextSeq;
  }

  private enqueue(stream: LogStream, data: string, eof: boolean, exitCode?: number): void {
    const chunk: LogChunk = {
      ...this.options.identity,
      seq: this.nextSeq++,
      stream,
      data,
      at: this.clock().toISOString(),
      eof,
      ...(exitCode === undefined ? {} : { exitCode }),
    };
    this.tail = this.tail.then(() =>
      this.options
        .publish(chunk)
        .catch((err: unknown) => this.options.onPublishError?.(chunk, err)),
    );
  }
}
