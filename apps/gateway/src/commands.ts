import { Inject, Injectable } from '@nestjs/common';
import { type ServiceName } from '@gantry/contracts';
import { commandEnvelope, sendCommand } from '@gantry/messaging';
import { GATEWAY_DEPENDENCIES, type GatewayDependencies } from './tokens';

export interface CommandOrigin {
  readonly tenant: string;
  readonly actor: string;
  /** The HTTP request's id, so everything that follows one call correlates. */
  readonly correlationId: string;
}

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
    const envelope = commandEnvelope(type, data, {
      tenant: origin.tenant,
      actor: origin.actor,
      correlationId: origin.correlationId,
    });
    return sendCommand<T>(this.deps.nc, this.deps.subjects, service, verb, envelope, {
      timeoutMs: this.deps.commandTimeoutMs ?? 10_000,
    });
  }
}
