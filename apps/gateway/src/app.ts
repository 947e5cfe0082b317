import { randomUUID } from 'node:crypto';
import { type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { acceptOctetStreamBodies, DEFAULT_UPLOAD_BODY_LIMIT_BYTES } from './files.controller';
import { GatewayModule } from './gateway.module';
import { ProblemFilter } from './problem.filter';
import { type GatewayDependencies } from './tokens';

/** Bodies above this are refused with 413 before anything parses them. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

export interface GatewayAppOptions extends GatewayDependencies {
  readonly bodyLimitBytes?: number;
  /** The limit of application/octet-stream bodies (POST /v1/files). */
  readonly uploadBodyLimitBytes?: number;
  readonly logger?: LoggerService | LogLevel[] | false;
  readonly onInternalError?: (err: unknown) => void;
}

/** The gateway as a Nest app on Fastify, initialised but not listening (main.ts or a test decides). */
export const createGatewayApp = async (
  options: GatewayAppOptions,
): Promise<NestFastifyApplication> => {
  const adapter = new FastifyAdapter({
    bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    // Request ids become the commands' correlation ids.
    genReqId: () => randomUUID(),
  });
  acceptOctetStreamBodies(
    adapter.getInstance(),
    options.uploadBodyLimitBytes ?? DEFAULT_UPLOAD_BODY_LIMIT_BYTES,
  );
  const app = await NestFactory.create<NestFastifyApplication>(
    GatewayModule.register(options),
    adapter,
    { logger: options.logger ?? ['log', 'warn', 'error'] },
  );
  // Nest routes Fastify's own errors (body too large, bad JSON, wrong content type) through its
  // exception layer too, so this one filter answers every error as problem+json.
  app.useGlobalFilters(new ProblemFilter(options.onInternalError));
  await app.init();
  return app;
};
