import {
  ErrorCodes,
  GantryError,
  LogChunkSchema,
  validationError,
  type LogChunk,
  type SubjectCatalogue,
} from '@gantry/contracts';

/**
 * What the relay makes of one message on the LOGS stream. A message that cannot be a chunk never
 * becomes one later, so it is poison: parked on the dead-letter stream, never retried.
 */
export type DecodedChunk =
  | { readonly ok: true; readonly chunk: LogChunk }
  | {
      readonly ok: false;
      readonly reason: 'unparseable' | 'invalid-envelope';
      readonly error: GantryError;
    };

const utf8 = new TextDecoder('utf-8', { fatal: true });

export const decodeLogChunk = (
  subjects: SubjectCatalogue,
  subject: string,
  data: Uint8Array,
): DecodedChunk => {
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(data));
  } catch {
    return {
      ok: false,
      reason: 'unparseable',
      error: new GantryError(ErrorCodes.VALIDATION_FAILED, 'a log chunk must be UTF-8 JSON'),
    };
  }
  const parsed = LogChunkSchema.safeParse(json);
  if (!parsed.success)
    return {
      ok: false,
      reason: 'invalid-envelope',
      error: validationError('log chunk', parsed.error),
    };
  const chunk = parsed.data;
  // The subject is what NATS permissions are written against: a chunk that names another tenant
  // or job than its subject could write into someone else's log (invariant 7).
  const expected = subjects.log(chunk.tenant, chunk.jobId, chunk.attempt, chunk.rank);
  if (subject !== expected) {
    return {
      ok: false,
      reason: 'invalid-envelope',
      error: new GantryError(
        ErrorCodes.VALIDATION_FAILED,
        'a log chunk must be published on the subject of its own tenant, job, attempt and rank',
        { details: { subject, expected } },
      ),
    };
  }
  return { ok: true, chunk };
};

/** Each (tenant, job) of a committed batch once: whom to wake. */
export const jobsOf = (
  chunks: readonly Pick<LogChunk, 'tenant' | 'jobId'>[],
): { tenant: string; jobId: string }[] => {
  const seen = new Map<string, { tenant: string; jobId: string }>();
  for (const { tenant, jobId } of chunks) seen.set(`${tenant}\u0000${jobId}`, { tenant, jobId });
  return [...seen.values()];
};
