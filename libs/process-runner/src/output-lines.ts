/** The longest chunk we hand on; a log line longer than this is cut so one line cannot exhaust a relay message. */
export const MAX_LINE_BYTES = 64 * 1024;

export type OutputStream = 'stdout' | 'stderr';

export interface OutputChunk {
  readonly stream: OutputStream;
  /**
   * One counter per attempt-rank across both streams, from 1 in the order the agent read the lines, so a
   * relay can order and dedupe (redelivery after a reconnect carries the same seq). 0 means "none yet".
   */
  readonly seq: number;
  /** The line without its newline (a trailing CR of CRLF is dropped too). */
  readonly line: string;
  readonly at: Date;
}

/**
 * Where a cut may fall at or before `limit` without splitting a UTF-8 sequence: back up over
 * continuation bytes (10xxxxxx). A sequence is at most 4 bytes, so this backs up at most 3.
 */
export const utf8CutPoint = (buf: Uint8Array, limit: number): number => {
  let cut = limit;
  while (cut > 0 && limit - cut < 3 && ((buf[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return cut === 0 ? limit : cut;
};

/**
 * Splits one byte stream into lines. It works on bytes, not on decoded text, so a multi-byte character
 * split across two pipe reads is decoded whole, and the 64 KiB limit is in bytes as promised.
 */
export class LineSplitter {
  private pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly emit: (line: string) => void,
    private readonly maxBytes: number = MAX_LINE_BYTES,
  ) {}

  push(chunk: Uint8Array): void {
    const data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    while (start <= data.length) {
      const newline = data.indexOf(0x0a, start);
      const end = newline === -1 ? data.length : newline;
      this.append(data.subarray(start, end));
      if (newline === -1) return;
      this.emitPending(true);
      start = newline + 1;
    }
  }

  /** Called at exit: a last line without a newline is still output. */
  flush(): void {
    if (this.pending.length > 0) this.emitPending(false);
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    this.pending =
      this.pending.length === 0 ? Buffer.from(part) : Buffer.concat([this.pending, part]);
    while (this.pending.length > this.maxBytes) {
      const cut = utf8CutPoint(this.pending, this.maxBytes);
      this.emit(this.pending.toString('utf8', 0, cut));
      this.pending = this.pending.subarray(cut);
    }
  }

  private emitPending(endedByNewline: boolean): void {
    let end = this.pending.length;
    if (endedByNewline && end > 0 && this.pending[end - 1] === 0x0d) end--;
    this.emit(this.pending.toString('utf8', 0, end));
    this.pending = Buffer.alloc(0);
  }
}

/** Both streams of one attempt-rank, numbered by one shared seq. */
export class OutputSequencer {
  private lastSeq = 0;
  private readonly splitters: Record<OutputStream, LineSplitter>;

  constructor(
    private readonly onChunk: (chunk: OutputChunk) => void,
    private readonly now: () => number = Date.now,
    maxLineBytes: number = MAX_LINE_BYTES,
  ) {
    this.splitters = {
      stdout: new LineSplitter((line) => this.deliver('stdout', line), maxLineBytes),
      stderr: new LineSplitter((line) => this.deliver('stderr', line), maxLineBytes),
    };
  }

  get seq(): number {
    return this.lastSeq;
  }

  push(stream: OutputStream, data: Uint8Array): void {
    this.splitters[stream].push(data);
  }

  flush(): void {
    this.splitters.stdout.flush();
    this.splitters.stderr.flush();
  }

  private deliver(stream: OutputStream, line: string): void {
    this.lastSeq += 1;
    this.onChunk({ stream, seq: this.lastSeq, line, at: new Date(this.now()) });
  }
}
