import { Inject, Injectable } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import { type ServiceName } from '@gantry/contracts';
import { type AuthenticatedKey } from '@gantry/projections';
import { keyActor } from './auth';
import { commandEnvelope, sendCommand } from '@gantry/messaging';
import { GATEWAY_DEPENDENCIES, type GatewayDependencies } from './tokens';

export interface CommandOrigin {
  readonly tenant: string;
  readonly actor: string;
  /** The HTTP request's id, so everything that follows one call correlates. */
  readonly correlationId: string;
}

/** A tenant's call as a command's origin: its tenant, the key as actor, the request as correlation. */
export const originOfKey = (key: AuthenticatedKey, req: FastifyRequest): CommandOrigin => ({
  tenant: key.tenant,
  actor: keyActor(key.keyId),
  correlationId: req.id,
});

/** The gateway's only way to change anything: a command to the service that owns the stream. */
@Injectable()
export class CommandSender {
  constructor(@Inject(GATEWAY_DEPENDENCIES) private readonly deps: GatewayDependencies) {}

  send<T>(
    service: ServiceName,
    verb: string,
    type: string,
    data: Readonly<Record<string, unknown>>,
    origin: CommandOrigin,
  ): Promise<T> {
    return this.request<T>(service, verb, type, data, origin, false);
  }

  /** A question only the service's leader can answer (it alone holds the state): changes nothing. */
  ask<T>(
    service: ServiceName,
    verb: string,
    type: string,
    data: Readonly<Record<string, unknown>>,
    origin: CommandOrigin,
  ): Promise<T> {
    return this.request<T>(service, verb, type, data, origin, true);
  }

  private request<T>(
    service: ServiceName,
    verb: string,
    type: string,
    data: Readonly<Record<string, unknown>>,
    origin: CommandOrigin,
    leaderOnly: boolean,
  ): Promise<T> {
    const envelope = commandEnvelope(type, data, {
      tenant: origin.tenant,
      actor: origin.actor,
      correlationId: origin.correlationId,
    });
    return sendCommand<T>(this.deps.nc, this.deps.subjects, service, verb, envelope, {
      timeoutMs: this.deps.commandTimeoutMs ?? 10_000,
      leaderOnly,
    });
  }
}
