import { z } from 'zod';
import { ErrorCodes, GantryError } from '@gantry/contracts';

/**
 * The job list's keyset position: the last row's (submitted_at, job_id). Opaque to callers
 * (base64url JSON); `submittedAt` is Postgres's own microsecond text, so no precision is lost
 * between pages.
 */
export interface JobCursor {
  readonly submittedAt: string;
  readonly jobId: string;
}

const CursorSchema = z.strictObject({
  s: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/),
  j: z.string().min(1).max(128),
});

export const encodeCursor = (cursor: JobCursor): string =>
  Buffer.from(JSON.stringify({ s: cursor.submittedAt, j: cursor.jobId }), 'utf8').toString(
    'base64url',
  );

export const decodeCursor = (raw: string): JobCursor => {
  const invalid = (): GantryError =>
    new GantryError(ErrorCodes.VALIDATION_FAILED, 'the cursor is not one this API issued', {
      details: { issues: [{ path: ['cursor'], message: 'invalid cursor' }] },
    });
  if (raw.length > 1_024 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw invalid();
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const parsed = CursorSchema.safeParse(json);
  if (!parsed.success) throw invalid();
  return { submittedAt: parsed.data.s, jobId: parsed.data.j };
};
