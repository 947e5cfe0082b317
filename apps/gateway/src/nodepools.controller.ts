import { Controller, Get, Headers, Inject, Query, Req } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import { type StartEstimatesReply } from '@gantry/contracts';
import { Authenticator } from './authenticator';
import { CommandSender, originOfKey } from './commands';
import { NodePoolsReadModel } from './nodepools.read-model';
import { NodePoolsQuerySchema, type NodePoolView } from './nodepools.schemas';
import { parseInput } from './validate';

/**
 * The fleet as a tenant sees it: pools, their nodes, capacity, use and queue depth; with a job
 * shape in the query, when a new job of that shape would start in each pool (C7, the scheduler's
 * leader runs its placement core forward to answer).
 */
@Controller('v1/nodepools')
export class NodePoolsController {
  constructor(
    @Inject(Authenticator) private readonly auth: Authenticator,
    @Inject(NodePoolsReadModel) private readonly nodePools: NodePoolsReadModel,
    @Inject(CommandSender) private readonly commands: CommandSender,
  ) {}

  @Get()
  async list(
    @Headers('authorization') authorization: string | undefined,
    @Query() query: unknown,
    @Req() req: FastifyRequest,
  ): Promise<{ pools: NodePoolView[] }> {
    const key = await this.auth.tenant(authorization);
    const shape = parseInput(NodePoolsQuerySchema, query ?? {}, 'the query');
    const pools = await this.nodePools.pools(key.tenant);
    if (shape.cores === undefined || shape.memoryMiB === undefined) return { pools };
    const estimates = await this.commands.ask<StartEstimatesReply>(
      'scheduler',
      'estimate',
      'EstimateStart',
      {
        resources: { cpu: shape.cores, memoryMiB: shape.memoryMiB, gpu: shape.gpus ?? 0 },
        nodes: shape.nodes ?? 1,
      },
      originOfKey(key, req),
    );
    const byPool = new Map(estimates.pools.map((e) => [e.pool, e.estimatedStartAt]));
    return {
      pools: pools.map((pool) => ({ ...pool, estimatedStartAt: byPool.get(pool.name) ?? null })),
    };
  }
}
