import {
  isGantryError,
  type GantryError,
  type TenantEvent,
  type TenantQuotas,
} from '@gantry/contracts';
import { API_KEY_RANDOM_BYTES, apiKeyMaterialFrom, hashApiKeySecret } from '../src/tenant/api-key';
import {
  decideTenant,
  foldTenant,
  type TenantDecision,
  type TenantState,
} from '../src/tenant/tenant.aggregate';

/** The tenant aggregate's tests as "given events, when command, then events (or refusal)". */
export const NOW = new Date('2026-11-01T10:00:00.000Z');
export const T0 = '2026-11-01T09:00:00.000Z';
const KEY = apiKeyMaterialFrom(new Uint8Array(API_KEY_RANDOM_BYTES).fill(7));

export const created = (quotas: TenantQuotas): TenantEvent => ({
  type: 'TenantCreated',
  data: {
    id: 'acme',
    name: 'Acme',
    quotas,
    apiKey: { keyId: KEY.keyId, hash: hashApiKeySecret(KEY), createdAt: T0 },
    createdAt: T0,
  },
});

export interface Held {
  readonly cores?: number;
  readonly memoryMiB?: number;
  readonly gpus?: number;
  readonly ratePerHour?: number;
  readonly projectedCost?: number;
  readonly pool?: string;
}

const heldData = (jobId: string, held: Held) => ({
  id: 'acme',
  jobId,
  cores: held.cores ?? 0,
  memoryMiB: held.memoryMiB ?? 0,
  gpus: held.gpus ?? 0,
  pool: held.pool ?? 'cpu',
  ratePerHour: held.ratePerHour ?? 0,
  projectedCost: held.projectedCost ?? 0,
});

export const reserved = (jobId: string, held: Held = {}, reservedAt = T0): TenantEvent => ({
  type: 'JobCapacityReserved',
  data: { ...heldData(jobId, held), reservedAt },
});
export const released = (jobId: string, cost = 0, releasedAt = T0): TenantEvent => ({
  type: 'JobCapacityReleased',
  data: { id: 'acme', jobId, runtimeSeconds: 0, cost, releasedAt },
});
export const given = (...events: TenantEvent[]): TenantState => foldTenant('acme', events);

export const reserve = (jobId: string, held: Held = {}): TenantDecision => ({
  command: { type: 'ReserveJobCapacity', data: heldData(jobId, held) },
});
export const release = (jobId: string, runtimeSeconds = 0): TenantDecision => ({
  command: { type: 'ReleaseJobCapacity', data: { id: 'acme', jobId, runtimeSeconds } },
});

export const refusalOf = (state: TenantState, decision: TenantDecision, now = NOW): GantryError => {
  try {
    decideTenant(state, decision, now);
  } catch (err) {
    if (isGantryError(err)) return err;
    throw err;
  }
  throw new Error('the command was accepted');
};
