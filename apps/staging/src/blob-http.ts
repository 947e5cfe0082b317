import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { ErrorCodes, isGantryError } from '@gantry/contracts';
import { UploadTooLargeError, type StagedFiles } from './staged-files.service';

const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  [ErrorCodes.VALIDATION_FAILED]: 400,
  [ErrorCodes.FORBIDDEN]: 403,
  [ErrorCodes.NOT_FOUND]: 404,
  [ErrorCodes.QUOTA_EXCEEDED]: 422,
  [ErrorCodes.ILLEGAL_TRANSITION]: 409,
  [ErrorCodes.STREAM_VERSION_CONFLICT]: 409,
  [ErrorCodes.TIMEOUT]: 503,
  [ErrorCodes.UNAVAILABLE]: 503,
};

interface BlobRoute {
  Params: { fileId: string };
  Querystring: Record<string, unknown>;
}

/**
 * The blob routes behind the signed URLs: `PUT /blobs/<fileId>` streams an upload into the object
 * store, `GET /blobs/<fileId>` streams it back. No API key here: the signature is the credential.
 * Errors are `{ code, message, retryable, details }` JSON with the status their code maps to.
 */
export const createBlobServer = (
  files: StagedFiles,
  onInternalError: (err: unknown) => void = () => undefined,
): FastifyInstance => {
  const server = Fastify({ logger: false });
  // The handler reads the raw request itself, as a stream, whatever its content type.
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

  server.put<BlobRoute>('/blobs/:fileId', async (request, reply) => {
    const uploaded = await files.upload(request.params.fileId, request.query, request.raw);
    return reply.code(200).send(uploaded);
  });

  server.get<BlobRoute>('/blobs/:fileId', async (request, reply) => {
    const download = await files.download(request.params.fileId, request.query);
    return reply
      .code(200)
      .header('content-type', 'application/octet-stream')
      .header('content-length', String(download.size))
      .header('x-gantry-sha256', download.sha256)
      .send(Readable.fromWeb(download.data as import('node:stream/web').ReadableStream));
  });

  server.setErrorHandler((err, _request, reply) => {
    if (isGantryError(err)) {
      const status = err instanceof UploadTooLargeError ? 413 : (STATUS_BY_CODE[err.code] ?? 500);
      if (status >= 500) onInternalError(err);
      // The rest of a refused upload is not worth reading.
      if (status === 413 || status === 403) void reply.header('connection', 'close');
      return reply.code(status).send(err.toJSON());
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) onInternalError(err);
    return reply.code(status).send({
      code: status >= 500 ? ErrorCodes.INTERNAL : ErrorCodes.VALIDATION_FAILED,
      message: status >= 500 ? 'internal error' : (err as Error).message,
      retryable: status >= 500,
      details: {},
    });
  });
  return server;
};
