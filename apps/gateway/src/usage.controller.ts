import { Controller, Get, Headers, Inject } from '@nestjs/common';
import { Authenticator } from './authenticator';
import { UsageReadModel } from './usage.read-model';
import { type UsageView } from './usage.schemas';

/** The caller's usage against every quota: what it holds now and how much room is left. */
@Controller('v1/usage')
export class UsageController {
  constructor(
    @Inject(Authenticator) private readonly auth: Authenticator,
    @Inject(UsageReadModel) private readonly usage: UsageReadModel,
  ) {}

  @Get()
  async get(@Headers('authorization') authorization: string | undefined): Promise<UsageView> {
    const key = await this.auth.tenant(authorization);
    return this.usage.usage(key.tenant);
  }
}
