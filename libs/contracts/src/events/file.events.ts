import { z } from 'zod';
import { defineMessage, type MessageOf } from '../registry';

/**
 * Staged files (issue 3, "staging"). Staging is the only writer of their streams and of their
 * bytes. A file id is `file-<32 lowercase hex>`, chosen so that the file id *is* its stream id:
 * `streamIdOf('file', <hex>) === <file id>` (aggregate `file`, id the hex). The same string is what
 * a job spec names in `inputs[].ref`, what the blob URLs carry and what the gateway shows.
 *
 *   (none) --FileCreated--> PENDING_UPLOAD --FileUploaded--> READY
 *   PENDING_UPLOAD | READY --FileDeleted--> DELETED
 *
 * A READY file's bytes never change: a URL handed to an agent always fetches what was checked.
 * Only a file an attempt made (`producedBy`) that its job never committed is ever deleted (D4): a
 * zombie's or a failed attempt's output, collected once its lease is over. A tenant's own upload
 * is never deleted by the platform.
 */
const Timestamp = z.iso.datetime({ offset: true });

export const FILE_ID_PATTERN = /^file-[0-9a-f]{32}$/;
export const FileIdSchema = z
  .string()
  .regex(FILE_ID_PATTERN, 'file ids look like file-<32 lowercase hex digits>');
export type FileId = z.infer<typeof FileIdSchema>;

/** A plain file name: no directories, no control characters (the job spec's `path` places it). */
export const FileNameSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^/\\\u0000-\u001f\u007f]+$/, 'a file name without slashes or control characters')
  .refine((name) => name !== '.' && name !== '..', 'a file name, not . or ..');

export const Sha256HexSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'a SHA-256 digest as 64 lowercase hex digits');
/** Bytes; 1 TiB is far beyond any configured upload limit. */
export const FileSizeSchema = z
  .number()
  .int()
  .min(0)
  .max(2 ** 40);

export const FileCreatedData = z.strictObject({
  fileId: FileIdSchema,
  name: FileNameSchema,
  /** What the tenant announced; an upload of another size or digest is refused. */
  expectedSize: FileSizeSchema.optional(),
  expectedSha256: Sha256HexSchema.optional(),
  /**
   * Set when an agent stored the file for an attempt (an output or a checkpoint, D4 and D7): the
   * job and the lease epoch it ran under. Such a file is the job's to commit; one that the job
   * never commits and that no live lease can commit any more is deleted. Absent: a tenant's file.
   */
  producedBy: z
    .strictObject({
      jobId: z.string().min(1).max(128),
      leaseEpoch: z.number().int().min(1),
    })
    .optional(),
  createdAt: Timestamp,
});
export const FileCreated = defineMessage('FileCreated', 1, FileCreatedData);

export const FileUploadedData = z.strictObject({
  fileId: FileIdSchema,
  size: FileSizeSchema,
  sha256: Sha256HexSchema,
  /** Where the bytes are in the blob store: one object per upload, so racing uploads never mix. */
  objectName: z.string().min(1).max(256),
  uploadedAt: Timestamp,
});
export const FileUploaded = defineMessage('FileUploaded', 1, FileUploadedData);

/** The file's bytes are gone from the object store and its storage charge released. */
export const FileDeletedData = z.strictObject({
  fileId: FileIdSchema,
  reason: z.string().min(1).max(1_000),
  deletedAt: Timestamp,
});
export const FileDeleted = defineMessage('FileDeleted', 1, FileDeletedData);

export const fileEventDefinitions = [FileCreated, FileUploaded, FileDeleted] as const;

export type FileEvent = MessageOf<(typeof fileEventDefinitions)[number]>;
export type FileEventType = FileEvent['type'];
