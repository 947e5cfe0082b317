import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
} from '@nestjs/common';
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import {
  ErrorCodes,
  FileIdSchema,
  GantryError,
  type CreateFileReply,
  type ErrorCode,
} from '@gantry/contracts';
import { readStagedFile, type AuthenticatedKey, type StagedFileView } from '@gantry/projections';
import { Authenticator } from './authenticator';
import { CommandSender, originOfKey } from './commands';
import { EdgeCodes, EdgeError } from './problem';
import {
  CreateFileBodySchema,
  UploadFileQuerySchema,
  type FileCreatedView,
  type FileUploadedView,
} from './schemas';
import { GATEWAY_DEPENDENCIES, type GatewayDependencies } from './tokens';
import { parseInput } from './validate';

/**
 * The largest body `POST /v1/files` takes as application/octet-stream. The gateway holds such a
 * body in memory before handing it to staging, so it stays modest; bigger files go straight to
 * staging through the upload URL a JSON `POST /v1/files` answers with.
 */
export const DEFAULT_UPLOAD_BODY_LIMIT_BYTES = 32 * 1024 * 1024;
const OCTET_STREAM = 'application/octet-stream';

/** Lets `POST /v1/files` take raw bytes (the JSON routes keep the gateway's small body limit). */
export const acceptOctetStreamBodies = (fastify: FastifyInstance, bodyLimit: number): void => {
  fastify.addContentTypeParser(OCTET_STREAM, { parseAs: 'buffer', bodyLimit }, (_req, body, done) =>
    done(null, body),
  );
};

const notFound = (): GantryError => new GantryError(ErrorCodes.NOT_FOUND, 'no such file');
const knownCodes = new Set<string>(Object.values(ErrorCodes));

/** Staging's answer to a refused PUT, as the error it stands for. */
const uploadError = async (res: Response): Promise<Error> => {
  if (res.status === 413) {
    return new EdgeError(EdgeCodes.PAYLOAD_TOO_LARGE, 'the file is larger than staging accepts');
  }
  const body = (await res.json().catch(() => ({}))) as {
    code?: string;
    message?: string;
    details?: Record<string, unknown>;
  };
  const code =
    body.code !== undefined && knownCodes.has(body.code) ? body.code : ErrorCodes.INTERNAL;
  return new GantryError(code as ErrorCode, body.message ?? `staging answered ${res.status}`, {
    details: body.details ?? {},
    retryable: res.status >= 500,
  });
};

/**
 * A tenant's staged input files (issue 3). Creating one is a command to staging; the bytes go to
 * staging's signed upload URL, either by the tenant or, for an octet-stream body, by the gateway
 * on its behalf. Reads come from staged_files, scoped to the caller.
 */
@Controller('v1/files')
export class FilesController {
  constructor(
    @Inject(Authenticator) private readonly auth: Authenticator,
    @Inject(CommandSender) private readonly commands: CommandSender,
    @Inject(GATEWAY_DEPENDENCIES) private readonly deps: GatewayDependencies,
  ) {}

  @Post()
  @HttpCode(201)
  async create(
    @Headers() headers: Record<string, string | undefined>,
    @Query() query: unknown,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
  ): Promise<FileCreatedView | FileUploadedView> {
    const key = await this.auth.tenant(headers['authorization']);
    const mediaType = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (mediaType !== OCTET_STREAM) {
      const announced = parseInput(CreateFileBodySchema, body, 'the file');
      const created = await this.createFile(announced, key, req);
      return {
        id: created.fileId,
        state: 'PENDING_UPLOAD',
        uploadUrl: created.uploadUrl,
        expiresAt: created.expiresAt,
      };
    }
    const { name } = parseInput(UploadFileQuerySchema, query, 'the query');
    const bytes = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
    const created = await this.createFile({ name, size: bytes.length }, key, req);
    let res: Response;
    try {
      res = await fetch(created.uploadUrl, {
        method: 'PUT',
        headers: { 'content-type': OCTET_STREAM },
        body: bytes,
      });
    } catch (err) {
      throw new GantryError(ErrorCodes.UNAVAILABLE, 'staging did not take the upload', {
        retryable: true,
        cause: err,
      });
    }
    if (!res.ok) throw await uploadError(res);
    const uploaded = (await res.json()) as { size: number; sha256: string };
    return { id: created.fileId, state: 'READY', size: uploaded.size, sha256: uploaded.sha256 };
  }

  @Get(':id')
  async get(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
  ): Promise<StagedFileView> {
    const key = await this.auth.tenant(authorization);
    // A path id that cannot be a file id is as missing as an unknown one.
    if (!FileIdSchema.safeParse(id).success) throw notFound();
    const file = await readStagedFile(this.deps.pool, key.tenant, id);
    if (file === null) throw notFound();
    return file;
  }

  private createFile(
    data: { name: string; size?: number | undefined; sha256?: string | undefined },
    key: AuthenticatedKey,
    req: FastifyRequest,
  ): Promise<CreateFileReply> {
    const announced = {
      name: data.name,
      ...(data.size === undefined ? {} : { size: data.size }),
      ...(data.sha256 === undefined ? {} : { sha256: data.sha256 }),
    };
    return this.commands.send<CreateFileReply>(
      'staging',
      'create-file',
      'CreateFile',
      announced,
      originOfKey(key, req),
    );
  }
}
