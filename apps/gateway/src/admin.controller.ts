import { Body, Controller, Headers, HttpCode, Inject, Param, Post, Put, Req } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import {
  ErrorCodes,
  GantryError,
  SYSTEM_TENANT,
  TenantIdSchema,
  TenantQuotasSchema,
  type TenantQuotas,
} from '@gantry/contracts';
import { Authenticator } from './authenticator';
import { untilVisible } from './read-your-writes';
import { CommandSender } from './commands';
import { CreateTenantBodySchema } from './schemas';
import { parseInput } from './validate';

interface IssuedKeyReply {
  readonly id: string;
  readonly apiKey: string;
}

/** Tenant administration: admission decides, the gateway only checks the admin token. */
@Controller('v1/admin')
export class AdminController {
  constructor(
    @Inject(Authenticator) private readonly auth: Authenticator,
    @Inject(CommandSender) private readonly commands: CommandSender,
  ) {}

  @Post('tenants')
  @HttpCode(201)
  async createTenant(
    @Headers('authorization') authorization: string | undefined,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
  ): Promise<{ id: string; apiKey: string }> {
    this.auth.admin(authorization);
    const data = parseInput(CreateTenantBodySchema, body, 'the tenant');
    const reply = await this.commands.send<IssuedKeyReply>(
      'admission',
      'create-tenant',
      'CreateTenant',
      data,
      { tenant: SYSTEM_TENANT, actor: 'admin', correlationId: req.id },
    );
    await untilVisible(() => this.auth.isKnown(reply.apiKey));
    return { id: reply.id, apiKey: reply.apiKey };
  }

  /**
   * A new key for the tenant; the previous one is revoked by the rotation (I1). The raw key is in
   * this answer only: how an operator recovers a tenant whose key was lost.
   */
  @Post('tenants/:id/keys')
  @HttpCode(201)
  async rotateKey(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Req() req: FastifyRequest,
  ): Promise<{ id: string; apiKey: string }> {
    this.auth.admin(authorization);
    if (!TenantIdSchema.safeParse(id).success) {
      throw new GantryError(ErrorCodes.NOT_FOUND, 'no such tenant');
    }
    const reply = await this.commands.send<IssuedKeyReply>(
      'admission',
      'rotate-key',
      'RotateApiKey',
      { id },
      { tenant: SYSTEM_TENANT, actor: 'admin', correlationId: req.id },
    );
    await untilVisible(() => this.auth.isKnown(reply.apiKey));
    return { id: reply.id, apiKey: reply.apiKey };
  }

  /**
   * Replaces the tenant's quotas as a whole (B5): a dimension left out has no limit. Recorded as
   * an event with the admin as its actor; admissions decided after it see the new limits.
   */
  @Put('tenants/:id/quotas')
  @HttpCode(200)
  async setQuotas(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
  ): Promise<{ id: string; quotas: TenantQuotas }> {
    this.auth.admin(authorization);
    if (!TenantIdSchema.safeParse(id).success) {
      throw new GantryError(ErrorCodes.NOT_FOUND, 'no such tenant');
    }
    const quotas = parseInput(TenantQuotasSchema, body, 'the quotas');
    await this.commands.send(
      'admission',
      'set-quotas',
      'SetTenantQuotas',
      { id, quotas },
      { tenant: SYSTEM_TENANT, actor: 'admin', correlationId: req.id },
    );
    return { id, quotas };
  }
}
