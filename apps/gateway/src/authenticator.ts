import { Inject, Injectable } from '@nestjs/common';
import { authenticateApiKey, type AuthenticatedKey } from '@gantry/projections';
import { bearerToken, isAdminToken } from './auth';
import { unauthenticated } from './problem';
import { GATEWAY_DEPENDENCIES, type GatewayDependencies } from './tokens';

/** Who is calling: the admin (by the admin token) or a tenant (by one of its API keys). */
@Injectable()
export class Authenticator {
  constructor(@Inject(GATEWAY_DEPENDENCIES) private readonly deps: GatewayDependencies) {}

  admin(authorization: string | string[] | undefined): void {
    if (!isAdminToken(bearerToken(authorization), this.deps.adminToken)) throw unauthenticated();
  }

  async isKnown(apiKey: string): Promise<boolean> {
    return (await authenticateApiKey(this.deps.pool, apiKey)) !== null;
  }

  async tenant(authorization: string | string[] | undefined): Promise<AuthenticatedKey> {
    const token = bearerToken(authorization);
    const key = token === null ? null : await authenticateApiKey(this.deps.pool, token);
    if (key === null) throw unauthenticated();
    return key;
  }
}
