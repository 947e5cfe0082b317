import { createHash } from 'node:crypto';
import { type z } from 'zod';
import {
  CreateAttemptFile,
  CreateFile,
  ErrorCodes,
  GantryError,
  ResolveInputs,
  validationError,
  type CommandEnvelope,
  type CreateFileReply,
  type EventEnvelope,
  type FileEvent,
  type FileId,
  type MessageDefinition,
  type ResolvedInput,
  type ResolveInputsReply,
} from '@gantry/contracts';
import {
  CommandProcessor,
  commandContextOf,
  type Decider,
  type PostgresEventStore,
} from '@gantry/event-store';
import { type PostgresProjectionSink } from '@gantry/projections';
import { blobUrl, parseExpires, verifyBlobGrant, type BlobMethod } from './blob-url';
import { type BlobStore } from './blob-store';
import { fileIdFrom, fileStreamId, isFileId } from './file-id';
import {
  decideFile,
  evolveFile,
  initialFileState,
  uploadRefusal,
  type FileCommand,
  type FileState,
} from './file.aggregate';
import { DOWNLOAD_URL_TTL_SECONDS, UPLOAD_URL_TTL_SECONDS } from './staging.config';

export interface StagedFilesOptions {
  readonly store: PostgresEventStore;
  readonly blobs: BlobStore;
  /** staged_files, kept right after each append. */
  readonly sink: PostgresProjectionSink;
  readonly secret: string;
  readonly maxUploadBytes: number;
  /** The base of the signed URLs; read when a URL is made (the port may be bound late). */
  readonly publicUrl: () => string;
  readonly clock: () => Date;
  readonly random: () => number;
  readonly newId: () => string;
  readonly onProjectionError?: (err: unknown) => void;
  /** Charges a file's bytes to its tenant's storage and ingress quotas (B1); none: unmetered. */
  readonly meter?: StorageMeter;
}

/** Admission's side of B1, as staging sees it; a refusal is a QUOTA_EXCEEDED GantryError. */
export interface StorageMeter {
  /** True when this call charged; false when the file was charged already (a racing upload). */
  charge(tenant: string, fileId: string, bytes: number): Promise<boolean>;
  release(tenant: string, fileId: string): Promise<void>;
}

/** An upload over the configured limit; the HTTP edge answers it with 413. */
export class UploadTooLargeError extends GantryError {
  constructor(limitBytes: number) {
    super(ErrorCodes.VALIDATION_FAILED, `the upload exceeds the limit of ${limitBytes} bytes`, {
      details: { limitBytes },
    });
  }
}

export interface UploadedFile {
  readonly fileId: string;
  readonly state: 'READY';
  readonly size: number;
  readonly sha256: string;
}

export interface Download {
  readonly data: ReadableStream<Uint8Array>;
  readonly size: number;
  readonly sha256: string;
  readonly name: string;
}

interface Loaded {
  readonly tenant: string | null;
  readonly state: FileState;
}

const fileDecider: Decider<FileState, FileCommand, FileEvent> = {
  initialState: initialFileState,
  evolve: evolveFile,
  decide: decideFile,
};

const forbidden = (message: string): GantryError => new GantryError(ErrorCodes.FORBIDDEN, message);

const parse = <D extends MessageDefinition>(
  definition: D,
  data: unknown,
): z.output<D['schema']> => {
  const parsed = definition.schema.safeParse(data);
  if (!parsed.success) throw validationError(`${definition.type} data`, parsed.error);
  return parsed.data as z.output<D['schema']>;
};

/**
 * Staging's work, apart from its transports: the file streams (through the pure aggregate), the
 * bytes, and the signed URLs. The Nest handlers and the blob HTTP routes only call into this.
 */
export class StagedFiles {
  private readonly processor: CommandProcessor;

  constructor(private readonly options: StagedFilesOptions) {
    this.processor = new CommandProcessor(options.store, {
      clock: options.clock,
      random: options.random,
    });
  }

  async createFile(envelope: CommandEnvelope): Promise<CreateFileReply> {
    return this.create(envelope, parse(CreateFile, envelope.data));
  }

  /**
   * An attempt's output or checkpoint (D4, D7), stored by an agent: like create-file, but the file
   * records the job and lease epoch it was made under, which is what lets the orphan sweep collect
   * it if the job never commits it.
   */
  async createAttemptFile(envelope: CommandEnvelope): Promise<CreateFileReply> {
    const { jobId, leaseEpoch, ...announced } = parse(CreateAttemptFile, envelope.data);
    return this.create(envelope, { ...announced, producedBy: { jobId, leaseEpoch } });
  }

  private async create(
    envelope: CommandEnvelope,
    data: Omit<Extract<FileCommand, { type: 'CreateFile' }>['data'], 'fileId'>,
  ): Promise<CreateFileReply> {
    const fileId = fileIdFrom(this.options.newId());
    const decision = await this.processor.handle(
      fileDecider,
      fileStreamId(fileId),
      { type: 'CreateFile', data: { fileId, ...data } },
      commandContextOf(envelope),
    );
    await this.project(decision.appended);
    const { url, expiresAt } = this.grant(
      'PUT',
      fileId,
      envelope.metadata.tenant,
      UPLOAD_URL_TTL_SECONDS,
    );
    return { fileId, uploadUrl: url, expiresAt };
  }

  /**
   * All or nothing: every ref must be a READY file of the envelope's tenant, or the command is
   * refused naming the first that is not. Another tenant's file is answered exactly like a
   * missing one (invariant 7).
   */
  async resolveInputs(envelope: CommandEnvelope): Promise<ResolveInputsReply> {
    const { refs } = parse(ResolveInputs, envelope.data);
    const { tenant } = envelope.metadata;
    const files: ResolvedInput[] = [];
    for (const ref of refs) {
      const missing = new GantryError(ErrorCodes.NOT_FOUND, `no staged file ${ref}`, {
        details: { ref },
      });
      if (!isFileId(ref)) throw missing;
      const loaded = await this.load(ref);
      if (loaded.tenant !== tenant || loaded.state.status === 'absent') throw missing;
      if (loaded.state.status !== 'READY') {
        throw new GantryError(ErrorCodes.NOT_FOUND, `${ref} has not been uploaded yet`, {
          details: { ref, state: loaded.state.status },
        });
      }
      const { url, expiresAt } = this.grant('GET', ref, tenant, DOWNLOAD_URL_TTL_SECONDS);
      files.push({ ref, url, sha256: loaded.state.sha256, size: loaded.state.size, expiresAt });
    }
    return { files };
  }

  /**
   * Takes the bytes of a signed PUT. The file must be waiting for its upload before a byte is
   * read; the bytes go to an object of their own, and only the append of FileUploaded makes them
   * the file's. An upload that loses (a mismatch, a racing upload that won) leaves nothing behind.
   */
  async upload(
    fileId: string,
    query: Readonly<Record<string, unknown>>,
    body: AsyncIterable<Uint8Array>,
  ): Promise<UploadedFile> {
    const { tenant, state } = await this.authorize('PUT', fileId, query);
    const refusal = uploadRefusal(state);
    if (refusal) throw refusal;
    const objectName = `${fileId}.${this.options.newId()}`;
    const counted = countingStream(body, this.options.maxUploadBytes);
    try {
      await this.options.blobs.put(objectName, counted.stream);
    } catch (err) {
      await this.discard(objectName);
      throw counted.tooLarge() ? new UploadTooLargeError(this.options.maxUploadBytes) : err;
    }
    const { size, sha256 } = counted.result();
    // Charged before the bytes become the file's: over quota, they are discarded, never kept.
    let charged = false;
    try {
      charged = (await this.options.meter?.charge(tenant, fileId, size)) ?? false;
    } catch (err) {
      await this.discard(objectName);
      throw err;
    }
    try {
      const decision = await this.processor.handle(
        fileDecider,
        fileStreamId(fileId as FileId),
        { type: 'RecordUpload', data: { size, sha256, objectName } },
        {
          tenant,
          causationId: this.options.newId(),
          correlationId: this.options.newId(),
          actor: 'staging:upload',
        },
      );
      await this.project(decision.appended);
    } catch (err) {
      await this.discard(objectName);
      // The upload lost (a racing one won, or a mismatch): the bytes it charged are not held.
      // Only the charging upload releases: a racer that lost to the winner must not undo its charge.
      if (charged) await this.options.meter?.release(tenant, fileId).catch(() => undefined);
      throw err;
    }
    return { fileId, state: 'READY', size, sha256 };
  }

  async download(fileId: string, query: Readonly<Record<string, unknown>>): Promise<Download> {
    const { state } = await this.authorize('GET', fileId, query);
    if (state.status !== 'READY') {
      throw new GantryError(ErrorCodes.NOT_FOUND, `${fileId} has not been uploaded yet`);
    }
    const data = await this.options.blobs.get(state.objectName);
    if (data === null) {
      throw new GantryError(ErrorCodes.INTERNAL, `the bytes of ${fileId} are missing`, {
        details: { fileId, objectName: state.objectName },
      });
    }
    return { data, size: state.size, sha256: state.sha256, name: state.name };
  }

  /**
   * Deletes an attempt's file its job never committed (D4): its bytes first, then its storage
   * charge, then the fact. Each step is safe to repeat, so a deletion cut short is finished by the
   * next sweep; the fact is refused if an upload landed after the bytes were looked at, so a
   * deleted file never leaves bytes behind. Returns whether this call recorded the deletion.
   */
  async deleteAttemptFile(fileId: FileId, reason: string): Promise<boolean> {
    const { tenant, state } = await this.load(fileId);
    if (tenant === null || state.status === 'absent' || state.status === 'DELETED') return false;
    if (state.producedBy === null) {
      throw new GantryError(
        ErrorCodes.ILLEGAL_TRANSITION,
        `${fileId} is a tenant's own file; only an attempt's uncommitted files are deleted`,
        { details: { fileId } },
      );
    }
    const objectName = state.status === 'READY' ? state.objectName : null;
    if (objectName !== null) {
      // The object store answers the deletion of a missing object with success: safe to repeat.
      await this.options.blobs.delete(objectName);
      await this.options.meter?.release(tenant, fileId);
    }
    const decision = await this.processor.handle(
      fileDecider,
      fileStreamId(fileId),
      { type: 'DeleteFile', data: { reason, objectName } },
      {
        tenant,
        causationId: this.options.newId(),
        correlationId: `job-${state.producedBy.jobId}`,
        actor: 'staging:orphan-sweep',
      },
    );
    await this.project(decision.appended);
    return decision.appended.length > 0;
  }

  private grant(
    method: BlobMethod,
    fileId: string,
    tenant: string,
    ttlSeconds: number,
  ): { url: string; expiresAt: string } {
    const expires = Math.floor(this.options.clock().getTime() / 1000) + ttlSeconds;
    return {
      url: blobUrl(
        this.options.publicUrl(),
        { method, fileId, tenant, expires },
        this.options.secret,
      ),
      expiresAt: new Date(expires * 1000).toISOString(),
    };
  }

  /**
   * Every refusal of a URL is the same 403, whether the file is unknown, the signature wrong or
   * the URL expired: a holder of no valid URL learns nothing about which files exist.
   */
  private async authorize(
    method: BlobMethod,
    fileId: string,
    query: Readonly<Record<string, unknown>>,
  ): Promise<{ tenant: string; state: FileState }> {
    const expires = parseExpires(query['expires']);
    if (expires === null || !isFileId(fileId)) throw forbidden('not a valid signed URL');
    const loaded = await this.load(fileId);
    if (loaded.tenant === null) throw forbidden('not a valid signed URL');
    const now = Math.floor(this.options.clock().getTime() / 1000);
    const verdict = verifyBlobGrant(
      { method, fileId, tenant: loaded.tenant, expires },
      query['sig'],
      this.options.secret,
      now,
    );
    if (verdict === 'expired') throw forbidden('the signed URL has expired');
    if (verdict !== 'ok') throw forbidden('not a valid signed URL');
    return { tenant: loaded.tenant, state: loaded.state };
  }

  private async load(fileId: FileId): Promise<Loaded> {
    const { state } = await this.options.store.aggregateStream<Loaded>(fileStreamId(fileId), {
      initial: () => ({ tenant: null, state: initialFileState() }),
      evolve: (acc, event) => ({
        tenant: acc.tenant ?? event.metadata.tenant,
        state: evolveFile(acc.state, { type: event.type, data: event.data } as FileEvent),
      }),
    });
    return state;
  }

  /**
   * The read model follows the append at once so the gateway can show the file. If this fails the
   * command has still happened: the next event of the stream fills the gap, and start-up catches
   * the projection up from the store.
   */
  private async project(events: readonly EventEnvelope[]): Promise<void> {
    if (events.length === 0) return;
    try {
      await this.options.sink.apply(events);
    } catch (err) {
      this.options.onProjectionError?.(err);
    }
  }

  private async discard(objectName: string): Promise<void> {
    await this.options.blobs.delete(objectName).catch(() => undefined);
  }
}

/**
 * The request body as a web stream for the object store, hashed and counted on the way through;
 * past the limit it fails rather than read on, so a huge body costs at most the limit.
 */
const countingStream = (
  body: AsyncIterable<Uint8Array>,
  limitBytes: number,
): {
  stream: ReadableStream<Uint8Array>;
  tooLarge: () => boolean;
  result: () => { size: number; sha256: string };
} => {
  const hash = createHash('sha256');
  const iterator = body[Symbol.asyncIterator]();
  let size = 0;
  let overLimit = false;
  let digest: string | null = null;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) {
        digest = hash.digest('hex');
        controller.close();
        return;
      }
      const chunk = next.value;
      size += chunk.byteLength;
      if (size > limitBytes) {
        overLimit = true;
        controller.error(new UploadTooLargeError(limitBytes));
        await iterator.return?.();
        return;
      }
      hash.update(chunk);
      controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    },
    async cancel() {
      await iterator.return?.();
    },
  });
  return {
    stream,
    tooLarge: () => overLimit,
    result: () => {
      if (digest === null) throw new GantryError(ErrorCodes.INTERNAL, 'the upload did not finish');
      return { size, sha256: digest };
    },
  };
};
