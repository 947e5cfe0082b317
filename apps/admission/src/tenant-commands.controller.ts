import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { type CommandEnvelope } from '@gantry/contracts';
import { OnCommand } from '@gantry/messaging';
import { type IssuedKeyReply, type TenantReply } from './tenant-commands';
import { TenantCommandsService } from './tenant-commands.service';
import { PriceBookService, type PoolPricesReply } from './price-book.service';

/**
 * `<ns>.cmd.admission.<verb>`: the admin's tenant commands (FEATURES.md B5). Thin: the service
 * checks the actor, parses, decides and appends; errors travel back with their code through
 * GantryRpcExceptionFilter.
 */
@Controller()
export class TenantCommandsController {
  constructor(
    @Inject(TenantCommandsService) private readonly tenants: TenantCommandsService,
    @Inject(PriceBookService) private readonly prices: PriceBookService,
  ) {}

  @OnCommand('create-tenant')
  createTenant(@Payload() command: CommandEnvelope): Promise<IssuedKeyReply | TenantReply> {
    return this.tenants.execute('create-tenant', command);
  }

  @OnCommand('set-quotas')
  setQuotas(@Payload() command: CommandEnvelope): Promise<IssuedKeyReply | TenantReply> {
    return this.tenants.execute('set-quotas', command);
  }

  @OnCommand('rotate-key')
  rotateKey(@Payload() command: CommandEnvelope): Promise<IssuedKeyReply | TenantReply> {
    return this.tenants.execute('rotate-key', command);
  }

  @OnCommand('revoke-key')
  revokeKey(@Payload() command: CommandEnvelope): Promise<IssuedKeyReply | TenantReply> {
    return this.tenants.execute('revoke-key', command);
  }

  @OnCommand('set-budget')
  setBudget(@Payload() command: CommandEnvelope): Promise<IssuedKeyReply | TenantReply> {
    return this.tenants.execute('set-budget', command);
  }

  @OnCommand('pause-tenant')
  pause(@Payload() command: CommandEnvelope): Promise<IssuedKeyReply | TenantReply> {
    return this.tenants.execute('pause-tenant', command);
  }

  @OnCommand('resume-tenant')
  resume(@Payload() command: CommandEnvelope): Promise<IssuedKeyReply | TenantReply> {
    return this.tenants.execute('resume-tenant', command);
  }

  @OnCommand('set-pool-prices')
  setPoolPrices(@Payload() command: CommandEnvelope): Promise<PoolPricesReply> {
    return this.prices.setPrices(command);
  }
}
