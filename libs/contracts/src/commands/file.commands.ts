import { z } from 'zod';
import { defineMessage, type MessageOf } from '../registry';
import { FileNameSchema, FileSizeSchema, Sha256HexSchema } from '../events/file.events';

/**
 * Commands answered by staging on `<ns>.cmd.staging.<verb>`; the envelope's metadata.tenant is
 * the tenant the file belongs to (or the job's tenant, for resolve-inputs).
 *
 * - `create-file` (CreateFile): reply `{ fileId, uploadUrl, expiresAt }`; the tenant PUTs the
 *   bytes to `uploadUrl` before `expiresAt`.
 * - `resolve-inputs` (ResolveInputs): reply `{ files: [{ ref, url, sha256, size, expiresAt }] }`,
 *   one per ref in order, each `url` a signed GET. Any ref that is not a READY file of the
 *   tenant refuses the whole command with NOT_FOUND naming it (`details.ref`).
 */
export const CreateFile = defineMessage(
  'CreateFile',
  1,
  z.strictObject({
    name: FileNameSchema,
    size: FileSizeSchema.optional(),
    sha256: Sha256HexSchema.optional(),
  }),
);

/**
 * `create-attempt-file` (CreateAttemptFile): what an agent sends to store an attempt's output or
 * checkpoint (D4, D7); the reply is create-file's. The file records the job and lease epoch it was
 * made under, so one the job never commits can be collected once that lease is over. The gateway
 * never sends it: a tenant's own files are never collected.
 */
export const CreateAttemptFile = defineMessage(
  'CreateAttemptFile',
  1,
  z.strictObject({
    name: FileNameSchema,
    size: FileSizeSchema,
    sha256: Sha256HexSchema,
    jobId: z.string().min(1).max(128),
    leaseEpoch: z.number().int().min(1),
  }),
);

export const ResolveInputs = defineMessage(
  'ResolveInputs',
  1,
  z.strictObject({
    jobId: z.string().min(1).max(128),
    refs: z.array(z.string().min(1).max(1_024)).max(1_000),
  }),
);

export interface CreateFileReply {
  readonly fileId: string;
  readonly uploadUrl: string;
  /** ISO 8601; the upload URL is refused after it. */
  readonly expiresAt: string;
}

export interface ResolvedInput {
  readonly ref: string;
  /** A signed GET of the file's bytes. */
  readonly url: string;
  readonly sha256: string;
  readonly size: number;
  /** ISO 8601; the URL is refused after it. */
  readonly expiresAt: string;
}

export interface ResolveInputsReply {
  readonly files: readonly ResolvedInput[];
}

export const fileCommandDefinitions = [CreateFile, CreateAttemptFile, ResolveInputs] as const;

export type FileCommand = MessageOf<(typeof fileCommandDefinitions)[number]>;
export type FileCommandType = FileCommand['type'];
