import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Inject,
  Param,
  Post,
  Put,
  Query,
  Req,
} from '@nestjs/common';
import { z } from 'zod';
import {
  readAlerts,
  readEstimateAccuracy,
  type AlertView,
  type EstimateAccuracy,
} from '@gantry/projections';
import { type FastifyRequest } from 'fastify';
import {
  ErrorCodes,
  GantryError,
  PoolPricesSchema,
  SubjectTokenSchema,
  SYSTEM_TENANT,
  TenantBudgetSchema,
  TenantIdSchema,
  TenantQuotasSchema,
  type PoolPrices,
  type TenantBudget,
  type TenantQuotas,
} from '@gantry/contracts';
import { Authenticator } from './authenticator';
import { untilVisible } from './read-your-writes';
import { CommandSender } from './commands';
import { CreateTenantBodySchema } from './schemas';
import { parseInput } from './validate';
import { GATEWAY_DEPENDENCIES, type GatewayDependencies } from './tokens';

interface IssuedKeyReply {
  readonly id: string;
  readonly apiKey: string;
}

/** An id that cannot name a tenant names none: 404, as for one that does not exist. */
const tenantIdOf = (id: string): string => {
  if (!TenantIdSchema.safeParse(id).success)
    throw new GantryError(ErrorCodes.NOT_FOUND, 'no such tenant');
  return id;
};

const asAdmin = (req: FastifyRequest) => ({
  tenant: SYSTEM_TENANT,
  actor: 'admin',
  correlationId: req.id,
});

export const AlertsQuerySchema = z.strictObject({
  open: z.enum(['true', 'false']).default('true').describe('only the open alerts (default)'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const AccuracyQuerySchema = z.strictObject({
  days: z.coerce.number().int().min(1).max(30).default(7),
});

/** Tenant administration: admission decides, the gateway only checks the admin token. */
@Controller('v1/admin')
export class AdminController {
  constructor(
    @Inject(Authenticator) private readonly auth: Authenticator,
    @Inject(CommandSender) private readonly commands: CommandSender,
    @Inject(GATEWAY_DEPENDENCIES) private readonly deps: GatewayDependencies,
  ) {}

  /**
   * How good the start estimates were (C7): each started job's first estimate against its actual
   * start, over the last `days` (default 7).
   */
  @Get('estimates/accuracy')
  async estimateAccuracy(
    @Headers('authorization') authorization: string | undefined,
    @Query() query: unknown,
  ): Promise<EstimateAccuracy & { since: string }> {
    this.auth.admin(authorization);
    const { days } = parseInput(AccuracyQuerySchema, query, 'the query');
    const since = new Date(Date.now() - days * 86_400_000);
    return { since: since.toISOString(), ...(await readEstimateAccuracy(this.deps.pool, since)) };
  }

  /** Alerts (H3): quota drift and budgets, newest first; open ones unless `open=false`. */
  @Get('alerts')
  async alerts(
    @Headers('authorization') authorization: string | undefined,
    @Query() query: unknown,
  ): Promise<{ alerts: AlertView[] }> {
    this.auth.admin(authorization);
    const { open, limit } = parseInput(AlertsQuerySchema, query, 'the query');
    return { alerts: await readAlerts(this.deps.pool, { openOnly: open === 'true', limit }) };
  }

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
      asAdmin(req),
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
    const reply = await this.commands.send<IssuedKeyReply>(
      'admission',
      'rotate-key',
      'RotateApiKey',
      { id: tenantIdOf(id) },
      asAdmin(req),
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
    tenantIdOf(id);
    const quotas = parseInput(TenantQuotasSchema, body, 'the quotas');
    await this.commands.send(
      'admission',
      'set-quotas',
      'SetTenantQuotas',
      { id, quotas },
      asAdmin(req),
    );
    return { id, quotas };
  }

  /**
   * The tenant's monthly budget (B3): submissions whose projected cost would pass it are refused,
   * and the tenant is paused when its accrued spend reaches it. Raising it past the spend resumes
   * a tenant the budget paused.
   */
  @Put('tenants/:id/budget')
  @HttpCode(200)
  async setBudget(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
  ): Promise<{ id: string; budget: TenantBudget | null }> {
    this.auth.admin(authorization);
    tenantIdOf(id);
    const budget = parseInput(TenantBudgetSchema, body, 'the budget');
    await this.commands.send(
      'admission',
      'set-budget',
      'SetTenantBudget',
      { id, budget },
      asAdmin(req),
    );
    return { id, budget };
  }

  @Delete('tenants/:id/budget')
  @HttpCode(200)
  async removeBudget(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Req() req: FastifyRequest,
  ): Promise<{ id: string; budget: null }> {
    this.auth.admin(authorization);
    tenantIdOf(id);
    await this.commands.send(
      'admission',
      'set-budget',
      'SetTenantBudget',
      { id, budget: null },
      asAdmin(req),
    );
    return { id, budget: null };
  }

  /** The kill switch by hand: new submissions refused, waiting jobs held. */
  @Post('tenants/:id/pause')
  @HttpCode(200)
  async pause(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Req() req: FastifyRequest,
  ): Promise<{ id: string; paused: true }> {
    this.auth.admin(authorization);
    tenantIdOf(id);
    await this.commands.send(
      'admission',
      'pause-tenant',
      'PauseTenant',
      { id, reason: 'admin' },
      asAdmin(req),
    );
    return { id, paused: true };
  }

  /**
   * Service restored, whatever paused it. A tenant resumed at its budget is not paused again by
   * the budget that month; its new jobs still have to fit the budget.
   */
  @Post('tenants/:id/resume')
  @HttpCode(200)
  async resume(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Req() req: FastifyRequest,
  ): Promise<{ id: string; paused: false }> {
    this.auth.admin(authorization);
    tenantIdOf(id);
    await this.commands.send(
      'admission',
      'resume-tenant',
      'ResumeTenant',
      { id, cause: 'admin' },
      asAdmin(req),
    );
    return { id, paused: false };
  }

  /** A pool's prices per resource-hour (B3); jobs admitted from now on are priced with them. */
  @Put('pools/:pool/prices')
  @HttpCode(200)
  async setPrices(
    @Headers('authorization') authorization: string | undefined,
    @Param('pool') pool: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
  ): Promise<{ pool: string; prices: PoolPrices }> {
    this.auth.admin(authorization);
    if (!SubjectTokenSchema.safeParse(pool).success)
      throw new GantryError(ErrorCodes.NOT_FOUND, 'no such pool');
    const prices = parseInput(PoolPricesSchema, body, 'the prices');
    return this.commands
      .send<{ pool: string; prices: PoolPrices }>(
        'admission',
        'set-pool-prices',
        'SetPoolPrices',
        { pool, prices },
        asAdmin(req),
      )
      .then((reply) => ({ pool: reply.pool, prices: reply.prices }));
  }
}
