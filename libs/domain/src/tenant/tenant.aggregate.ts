import {
  ErrorCodes,
  GantryError,
  TenantIdSchema,
  TenantNameSchema,
  TenantQuotasSchema,
  type ApiKeyRecord,
  type TenantCommand,
  type TenantEvent,
  type TenantQuotas,
} from '@gantry/contracts';
import { hashApiKeySecret, isWellFormedApiKeyMaterial, type ApiKeyMaterial } from './api-key';
import { checkQuotas, quotaExceeded, usageOf, type Reservation } from './tenant-usage';

/**
 * The tenant aggregate (FEATURES.md B5, I1): a tenant's name, quotas and API keys, in the stream
 * `tenant-<id>`. Admission is its only writer. Pure like the job aggregate: `decide` answers a
 * command from the state, the time and the key material it is given; `evolve` folds the facts.
 *
 *   (none) --TenantCreated--> ACTIVE (one live key)
 *   ACTIVE --TenantQuotasSet | ApiKeyRotated | ApiKeyRevoked--> ACTIVE
 *   ACTIVE --JobCapacityReserved | JobCapacityReleased--> ACTIVE (usage, B2)
 *
 * The state stays small whatever the stream's length: released jobs leave nothing behind, so it
 * holds only the jobs that count now. It is plain JSON, so the store can snapshot it.
 */
export interface TenantKey {
  readonly keyId: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

export type TenantState =
  | { readonly status: 'NONE'; readonly id: string }
  | {
      readonly status: 'ACTIVE';
      readonly id: string;
      readonly name: string;
      readonly quotas: TenantQuotas;
      readonly keys: readonly TenantKey[];
      readonly createdAt: string;
      /** Job id -> the cores it holds, for every job admitted and not yet ended. */
      readonly reservations: Readonly<Record<string, Reservation>>;
    };

export const initialTenantState = (id: string): TenantState => ({ status: 'NONE', id });

/**
 * What decide is given: the wire command and, for the commands that make a key, freshly drawn
 * key material (randomness is an input, like the clock).
 */
export type TenantDecision =
  | {
      readonly command: Extract<TenantCommand, { type: 'CreateTenant' | 'RotateApiKey' }>;
      readonly key: ApiKeyMaterial;
    }
  | {
      readonly command: Extract<
        TenantCommand,
        {
          type: 'SetTenantQuotas' | 'RevokeApiKey' | 'ReserveJobCapacity' | 'ReleaseJobCapacity';
        }
      >;
    };

const revoke = (keys: readonly TenantKey[], keyId: string | null, at: string): TenantKey[] =>
  keys.map((k) => (k.keyId === keyId && k.revokedAt === null ? { ...k, revokedAt: at } : k));

export const evolveTenant = (state: TenantState, event: TenantEvent): TenantState => {
  switch (event.type) {
    case 'TenantCreated':
      return {
        status: 'ACTIVE',
        id: event.data.id,
        name: event.data.name,
        quotas: event.data.quotas,
        keys: [
          {
            keyId: event.data.apiKey.keyId,
            createdAt: event.data.apiKey.createdAt,
            revokedAt: null,
          },
        ],
        createdAt: event.data.createdAt,
        reservations: {},
      };
    case 'TenantQuotasSet':
      return state.status === 'ACTIVE' ? { ...state, quotas: event.data.quotas } : state;
    case 'ApiKeyRotated':
      return state.status === 'ACTIVE'
        ? {
            ...state,
            keys: [
              ...revoke(state.keys, event.data.revokedKeyId, event.data.rotatedAt),
              {
                keyId: event.data.apiKey.keyId,
                createdAt: event.data.apiKey.createdAt,
                revokedAt: null,
              },
            ],
          }
        : state;
    case 'ApiKeyRevoked':
      return state.status === 'ACTIVE'
        ? { ...state, keys: revoke(state.keys, event.data.keyId, event.data.revokedAt) }
        : state;
    case 'JobCapacityReserved':
      return state.status === 'ACTIVE'
        ? {
            ...state,
            reservations: {
              ...state.reservations,
              [event.data.jobId]: {
                cores: event.data.cores,
                memoryMiB: event.data.memoryMiB,
                gpus: event.data.gpus,
              },
            },
          }
        : state;
    case 'JobCapacityReleased': {
      if (state.status !== 'ACTIVE' || !Object.hasOwn(state.reservations, event.data.jobId))
        return state;
      const { [event.data.jobId]: _released, ...rest } = state.reservations;
      return { ...state, reservations: rest };
    }
    default: {
      const unhandled: never = event;
      throw new Error(`the tenant aggregate has no case for ${(unhandled as TenantEvent).type}`);
    }
  }
};

export const foldTenant = (id: string, events: readonly TenantEvent[]): TenantState =>
  events.reduce(evolveTenant, initialTenantState(id));

/** The key that authenticates the tenant now, if any. */
export const liveKeyOf = (state: TenantState): TenantKey | null =>
  state.status === 'ACTIVE' ? (state.keys.find((k) => k.revokedAt === null) ?? null) : null;

const invalid = (message: string, details: Record<string, unknown> = {}): GantryError =>
  new GantryError(ErrorCodes.VALIDATION_FAILED, message, { details });

/** decide re-checks what the wire schema checked: the aggregate trusts no caller. */
const checkedQuotas = (quotas: unknown): TenantQuotas => {
  const parsed = TenantQuotasSchema.safeParse(quotas);
  if (!parsed.success)
    throw invalid('quotas are positive numbers of cores, memoryMiB, gpus and concurrentJobs', {
      issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  return parsed.data;
};

const newKeyRecord = (state: TenantState, key: ApiKeyMaterial, at: string): ApiKeyRecord => {
  if (!isWellFormedApiKeyMaterial(key)) throw new Error('malformed API key material');
  if (state.status === 'ACTIVE' && state.keys.some((k) => k.keyId === key.keyId))
    throw new GantryError(ErrorCodes.VALIDATION_FAILED, 'the new key id is already taken', {
      retryable: true,
    });
  return { keyId: key.keyId, hash: hashApiKeySecret(key), createdAt: at };
};

const sameQuotas = (a: TenantQuotas, b: TenantQuotas): boolean => {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof TenantQuotas>;
  return [...keys].every((k) => a[k] === b[k]);
};

/**
 * decide: the tenant's answer to a command. Refusals are GantryErrors:
 * - TENANT_EXISTS: a create for an id already taken (the key it made cannot be shown again, so a
 *   repeat is refused rather than answered as a success);
 * - NOT_FOUND: no such tenant, or no such key of it;
 * - VALIDATION_FAILED: an id, a name or quotas that break the schema, or a command for another
 *   tenant's stream.
 * Repeats that change nothing (the same quotas, revoking a revoked key) decide no events.
 */
export const decideTenant = (
  state: TenantState,
  decision: TenantDecision,
  now: Date,
): TenantEvent[] => {
  const at = now.toISOString();
  const { command } = decision;
  if (command.data.id !== state.id)
    throw invalid(`a command for tenant ${command.data.id} reached tenant ${state.id}`);
  if (!TenantIdSchema.safeParse(command.data.id).success)
    throw invalid('tenant ids are 1-63 chars of a-z, 0-9 and -', { id: command.data.id });

  if (command.type === 'CreateTenant') {
    if (state.status !== 'NONE')
      throw new GantryError(ErrorCodes.TENANT_EXISTS, `tenant ${state.id} already exists`, {
        details: { id: state.id },
      });
    const name = TenantNameSchema.safeParse(command.data.name);
    if (!name.success) throw invalid('a tenant name is 1-200 characters');
    const quotas = checkedQuotas(command.data.quotas);
    const apiKey = newKeyRecord(state, (decision as { key: ApiKeyMaterial }).key, at);
    return [
      {
        type: 'TenantCreated',
        data: { id: state.id, name: name.data, quotas, apiKey, createdAt: at },
      },
    ];
  }

  // No tenant, no reservation: a job of a tenant that never existed holds nothing to release.
  if (state.status === 'NONE' && command.type === 'ReleaseJobCapacity') return [];
  if (state.status === 'NONE')
    throw new GantryError(ErrorCodes.NOT_FOUND, `tenant ${state.id} does not exist`, {
      details: { id: state.id },
    });

  switch (command.type) {
    case 'SetTenantQuotas': {
      const quotas = checkedQuotas(command.data.quotas);
      if (sameQuotas(quotas, state.quotas)) return [];
      return [{ type: 'TenantQuotasSet', data: { id: state.id, quotas, setAt: at } }];
    }
    case 'RotateApiKey': {
      const apiKey = newKeyRecord(state, (decision as { key: ApiKeyMaterial }).key, at);
      return [
        {
          type: 'ApiKeyRotated',
          data: {
            id: state.id,
            apiKey,
            revokedKeyId: liveKeyOf(state)?.keyId ?? null,
            rotatedAt: at,
          },
        },
      ];
    }
    case 'RevokeApiKey': {
      const key = state.keys.find((k) => k.keyId === command.data.keyId);
      if (!key)
        throw new GantryError(ErrorCodes.NOT_FOUND, `tenant ${state.id} has no such key`, {
          details: { id: state.id, keyId: command.data.keyId },
        });
      if (key.revokedAt !== null) return [];
      return [{ type: 'ApiKeyRevoked', data: { id: state.id, keyId: key.keyId, revokedAt: at } }];
    }
    case 'ReserveJobCapacity': {
      const { jobId, cores, memoryMiB, gpus } = command.data;
      // A redelivered reservation: the job already holds its share.
      if (Object.hasOwn(state.reservations, jobId)) return [];
      if (!(cores >= 0)) throw invalid('a job reserves a non-negative number of cores', { cores });
      const refusal = checkQuotas(state.quotas, usageOf(state.reservations), {
        cores,
        memoryMiB,
        gpus,
        concurrentJobs: 1,
      });
      if (refusal) throw quotaExceeded(refusal, { jobId });
      return [
        {
          type: 'JobCapacityReserved',
          data: { id: state.id, jobId, cores, memoryMiB, gpus, reservedAt: at },
        },
      ];
    }
    case 'ReleaseJobCapacity': {
      const { jobId } = command.data;
      // Released already, or never reserved (rejected, cancelled before admission): nothing to do.
      if (!Object.hasOwn(state.reservations, jobId)) return [];
      return [{ type: 'JobCapacityReleased', data: { id: state.id, jobId, releasedAt: at } }];
    }
    default: {
      const unhandled: never = command;
      throw new Error(`the tenant aggregate has no case for ${(unhandled as TenantCommand).type}`);
    }
  }
};
