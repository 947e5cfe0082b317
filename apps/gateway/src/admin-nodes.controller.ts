import { Body, Controller, Headers, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  ErrorCodes,
  GantryError,
  NodeIdSchema,
  SYSTEM_TENANT,
  type NodeStandingReply,
} from '@gantry/contracts';
import { Authenticator } from './authenticator';
import { CommandSender } from './commands';
import { parseInput } from './validate';

/** The body of a cordon or a drain: why, for the record (optional). */
export const NodeReasonBodySchema = z.strictObject({ reason: z.string().max(1_000).optional() });

const nodeIdOf = (raw: string): string => {
  if (!NodeIdSchema.safeParse(raw).success) {
    throw new GantryError(ErrorCodes.NOT_FOUND, `no node ${raw} has enrolled`);
  }
  return raw;
};

/**
 * C9, an admin's say over a node. The scheduler decides each on the node's stream and answers the
 * standing that results; the admin is the recorded actor. Repeating a call changes nothing.
 */
@Controller('v1/admin/nodes')
export class AdminNodesController {
  constructor(
    @Inject(Authenticator) private readonly auth: Authenticator,
    @Inject(CommandSender) private readonly commands: CommandSender,
  ) {}

  /** No new leases on the node; what runs there goes on. */
  @Post(':id/cordon')
  @HttpCode(200)
  cordon(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
  ): Promise<NodeStandingReply> {
    return this.change(authorization, req, 'cordon-node', 'CordonNode', () => {
      const { reason } = parseInput(NodeReasonBodySchema, body ?? {}, 'the cordon request');
      return { nodeId: nodeIdOf(id), reason: reason ?? '' };
    });
  }

  /** Cordon, and let the running work finish (nothing is killed); then the node is drained. */
  @Post(':id/drain')
  @HttpCode(200)
  drain(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
  ): Promise<NodeStandingReply> {
    return this.change(authorization, req, 'drain-node', 'DrainNode', () => {
      const { reason } = parseInput(NodeReasonBodySchema, body ?? {}, 'the drain request');
      return { nodeId: nodeIdOf(id), reason: reason ?? '' };
    });
  }

  @Post(':id/uncordon')
  @HttpCode(200)
  uncordon(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Req() req: FastifyRequest,
  ): Promise<NodeStandingReply> {
    return this.change(authorization, req, 'uncordon-node', 'UncordonNode', () => ({
      nodeId: nodeIdOf(id),
    }));
  }

  /** Lifts a quarantine. */
  @Post(':id/clear')
  @HttpCode(200)
  clear(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Req() req: FastifyRequest,
  ): Promise<NodeStandingReply> {
    return this.change(authorization, req, 'clear-node', 'ClearNode', () => ({
      nodeId: nodeIdOf(id),
    }));
  }

  private change(
    authorization: string | undefined,
    req: FastifyRequest,
    verb: string,
    type: string,
    data: () => Record<string, unknown>,
  ): Promise<NodeStandingReply> {
    // The admin token first: an anonymous caller learns nothing, not even that its input was bad.
    this.auth.admin(authorization);
    return this.commands.send<NodeStandingReply>('scheduler', verb, type, data(), {
      tenant: SYSTEM_TENANT,
      actor: 'admin',
      correlationId: req.id,
    });
  }
}
