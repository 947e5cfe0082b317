import { FileIdSchema, parseStreamId, streamIdOf, type FileId } from '@gantry/contracts';

/**
 * A file id is `file-<32 hex>`: the UUID's hex digits without dashes behind the aggregate name,
 * which makes the file id and its stream id one string (`streamIdOf('file', hex)`), so no one
 * ever has to translate between them.
 */
export const fileIdFrom = (uuid: string): FileId =>
  FileIdSchema.parse(`file-${uuid.replace(/-/g, '').toLowerCase()}`);

export const isFileId = (value: unknown): value is FileId => FileIdSchema.safeParse(value).success;

export const fileStreamId = (fileId: FileId): string =>
  streamIdOf('file', parseStreamId(fileId).id);
