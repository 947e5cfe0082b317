import { promises as fs } from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';

/**
 * D7, the job's side of the contract: a running rank appends JSON lines to GANTRY_PROGRESS_FILE,
 *
 *   {"progress": 0.4}
 *   {"checkpoint": "ckpt/step-100.pt", "sha256": "<64 hex, optional>"}
 *
 * `progress` is 0 to 1. `checkpoint` names a file the rank has finished writing, relative to its
 * work dir (GANTRY_WORK_DIR) or absolute inside it; when `sha256` is given the agent stores the
 * file only if it has that digest. The agent reads the file as it grows and once more after the
 * process exits, so a checkpoint written just before a crash still counts. A line that is not
 * one of these is reported on the rank's stderr and skipped.
 */
export type ProgressEntry =
  | { readonly kind: 'progress'; readonly progress: number }
  | { readonly kind: 'checkpoint'; readonly path: string; readonly sha256?: string }
  | { readonly kind: 'invalid'; readonly reason: string };

const LineSchema = z.union([
  z.strictObject({ progress: z.number().min(0).max(1) }),
  z.strictObject({
    checkpoint: z.string().min(1).max(4_096),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/)
      .optional(),
  }),
]);

export const parseProgressLine = (line: string): ProgressEntry => {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { kind: 'invalid', reason: 'not JSON' };
  }
  const parsed = LineSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      kind: 'invalid',
      reason: 'expected {"progress": 0..1} or {"checkpoint": "<path>", "sha256"?: "<hex>"}',
    };
  }
  const entry = parsed.data;
  if ('progress' in entry) return { kind: 'progress', progress: entry.progress };
  return {
    kind: 'checkpoint',
    path: entry.checkpoint,
    ...(entry.sha256 === undefined ? {} : { sha256: entry.sha256.toLowerCase() }),
  };
};

/** The checkpoint's file, or null when the path leaves the work dir. Lexical; see the caller. */
export const checkpointPath = (workDir: string, named: string): string | null => {
  const target = path.resolve(workDir, named);
  const rel = path.relative(path.resolve(workDir), target);
  return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? null : target;
};

/** The most a single read takes; a runaway writer cannot make the agent hold its whole file. */
const MAX_READ_BYTES = 1024 * 1024;
const MAX_LINE_BYTES = 16 * 1024;

/**
 * Reads what was appended since the last call, as whole lines; a partial last line waits for its
 * newline. A file that does not exist yet has no lines.
 */
export class ProgressFileReader {
  private offset = 0;
  private partial = '';
  /** Keeps a character split across two reads whole. */
  private readonly decoder = new StringDecoder('utf8');

  constructor(private readonly file: string) {}

  async readNew(): Promise<string[]> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    try {
      const buffer = Buffer.alloc(MAX_READ_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, MAX_READ_BYTES, this.offset);
      if (bytesRead === 0) return [];
      this.offset += bytesRead;
      const text = this.partial + this.decoder.write(buffer.subarray(0, bytesRead));
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      // A line that never ends is not a line: drop it rather than grow without bound.
      if (Buffer.byteLength(this.partial) > MAX_LINE_BYTES) this.partial = '';
      return lines.map((l) => l.trim()).filter((l) => l.length > 0);
    } finally {
      await handle.close();
    }
  }
}
