import { Inject, Injectable } from '@nestjs/common';
import { streamIdOf, type CommandEnvelope, type TenantEvent } from '@gantry/contracts';
import {
  API_KEY_RANDOM_BYTES,
  apiKeyMaterialFrom,
  decideTenant,
  evolveTenant,
  formatApiKey,
  initialTenantState,
  type ApiKeyMaterial,
  type TenantDecision,
  type TenantState,
} from '@gantry/domain';
import { CommandProcessor, type Decider, type EventStreams } from '@gantry/event-store';
import {
  parseTenantCommand,
  requireAdmin,
  TENANT_COMMAND_VERBS,
  type IssuedKeyReply,
  type TenantCommandVerb,
  type TenantReply,
} from './tenant-commands';

export interface AdmissionDependencies {
  readonly store: EventStreams;
  readonly clock: () => Date;
  /** Cryptographically strong random bytes: API keys are made of them. */
  readonly randomBytes: (size: number) => Uint8Array;
  /** Attempts at load-decide-append before a version conflict goes back to the sender. */
  readonly maxAttempts?: number;
}

export const ADMISSION_DEPENDENCIES = Symbol('ADMISSION_DEPENDENCIES');

/** Tenant commands: admin only, then the shared load-decide-append loop (ADR 0009). */
@Injectable()
export class TenantCommandsService {
  private readonly processor: CommandProcessor;

  constructor(@Inject(ADMISSION_DEPENDENCIES) private readonly deps: AdmissionDependencies) {
    this.processor = new CommandProcessor(deps.store, {
      clock: deps.clock,
      // Jitter between retries needs no cryptographic strength, only independence between racers.
      random: () => Buffer.from(deps.randomBytes(4)).readUInt32BE() / 2 ** 32,
      ...(deps.maxAttempts === undefined ? {} : { maxAttempts: deps.maxAttempts }),
    });
  }

  async execute(
    verb: TenantCommandVerb,
    envelope: CommandEnvelope,
  ): Promise<IssuedKeyReply | TenantReply> {
    // Before anything else, so a non-admin learns nothing, not even whether its data was valid.
    requireAdmin(envelope);
    const command = parseTenantCommand(TENANT_COMMAND_VERBS[verb], envelope);
    const { id } = command.data;
    const streamId = streamIdOf('tenant', id);
    let key: ApiKeyMaterial | null = null;
    let decision: TenantDecision;
    if (command.type === 'CreateTenant' || command.type === 'RotateApiKey') {
      key = apiKeyMaterialFrom(this.deps.randomBytes(API_KEY_RANDOM_BYTES));
      decision = { command, key };
    } else {
      decision = { command };
    }

    const tenantDecider: Decider<TenantState, TenantDecision, TenantEvent> = {
      initialState: () => initialTenantState(id),
      evolve: evolveTenant,
      decide: decideTenant,
    };
    // The tenant stream's events carry the tenant id itself as their tenant, whoever sent the
    // command; the admin who did is their actor.
    const result = await this.processor.handle(tenantDecider, streamId, decision, {
      tenant: id,
      causationId: envelope.id,
      correlationId: envelope.metadata.correlationId,
      ...(envelope.metadata.actor === undefined ? {} : { actor: envelope.metadata.actor }),
      ...(envelope.metadata.traceparent === undefined
        ? {}
        : { traceparent: envelope.metadata.traceparent }),
    });
    return key === null
      ? { id, version: result.version }
      : { id, apiKey: formatApiKey(key), keyId: key.keyId, version: result.version };
  }
}
