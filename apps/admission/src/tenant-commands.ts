import {
  commandRegistry,
  ErrorCodes,
  GantryError,
  type CommandEnvelope,
  type TenantCommand,
  type TenantCommandType,
} from '@gantry/contracts';

/**
 * Admission's tenant verbs (`<ns>.cmd.admission.<verb>`, FEATURES.md B5) and the command each
 * one carries: one table, so the subjects, the handlers and the tests cannot drift apart.
 */
export const TENANT_COMMAND_VERBS = {
  'create-tenant': 'CreateTenant',
  'set-quotas': 'SetTenantQuotas',
  'rotate-key': 'RotateApiKey',
  'revoke-key': 'RevokeApiKey',
  'set-budget': 'SetTenantBudget',
  'pause-tenant': 'PauseTenant',
  'resume-tenant': 'ResumeTenant',
} as const satisfies Record<string, TenantCommandType>;
export type TenantCommandVerb = keyof typeof TENANT_COMMAND_VERBS;

/** create-tenant and rotate-key: the raw key, in this reply and nowhere else, ever. */
export interface IssuedKeyReply {
  readonly id: string;
  readonly apiKey: string;
  readonly keyId: string;
  readonly version: number;
}

/** set-quotas and revoke-key. */
export interface TenantReply {
  readonly id: string;
  readonly version: number;
}

/** Only an admin may manage tenants (FEATURES.md I1: "an admin role"). */
export const isAdminActor = (actor: string | undefined): boolean =>
  actor === 'admin' || (actor !== undefined && actor.startsWith('admin:') && actor.length > 6);

export const requireAdmin = (envelope: CommandEnvelope): void => {
  if (!isAdminActor(envelope.metadata.actor)) {
    throw new GantryError(ErrorCodes.FORBIDDEN, 'tenant administration needs an admin actor', {
      details: { type: envelope.type },
    });
  }
};

/**
 * The envelope's data checked against the command's schema (a handler does not trust what it
 * did not parse), and its type against the verb it came on.
 */
export const parseTenantCommand = (
  expected: TenantCommandType,
  envelope: CommandEnvelope,
): TenantCommand => {
  if (envelope.type !== expected) {
    throw new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      `this subject takes ${expected} commands, not ${envelope.type}`,
      { details: { expected, type: envelope.type } },
    );
  }
  const data = commandRegistry.validateData(expected, envelope.data);
  return { type: expected, data } as TenantCommand;
};
