import { Controller, Get, Headers, Inject } from '@nestjs/common';
import { Authenticator } from './authenticator';
import { NodePoolsReadModel } from './nodepools.read-model';
import { type NodePoolView } from './nodepools.schemas';

/** The fleet as a tenant sees it: pools, their nodes, capacity, use and queue depth. */
@Controller('v1/nodepools')
export class NodePoolsController {
  constructor(
    @Inject(Authenticator) private readonly auth: Authenticator,
    @Inject(NodePoolsReadModel) private readonly nodePools: NodePoolsReadModel,
  ) {}

  @Get()
  async list(
    @Headers('authorization') authorization: string | undefined,
  ): Promise<{ pools: NodePoolView[] }> {
    const key = await this.auth.tenant(authorization);
    return { pools: await this.nodePools.pools(key.tenant) };
  }
}
