import { Controller, Get } from '@nestjs/common';
import { buildOpenApiDocument } from './openapi';

/** The OpenAPI 3.1 document; public, like the schemas it is built from. */
@Controller('v1')
export class OpenApiController {
  private readonly document = buildOpenApiDocument();

  @Get('openapi.json')
  openapi(): unknown {
    return this.document;
  }
}
