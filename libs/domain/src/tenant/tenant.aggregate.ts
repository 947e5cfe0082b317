import {
  ErrorCodes,
  GantryError,
  TenantIdSchema,
  TenantNameSchema,
  TenantQuotasSchema,
  type ApiKeyRecord,
  TenantBudgetSchema,
  type TenantBudget,
  type TenantCommand,
  type TenantEvent,
  type TenantQuotas,
} from '@gantry/contracts';
import { billingMonthOf, costOf, roundMoney } from './cost';
import { hashApiKeySecret, isWellFormedApiKeyMaterial, type ApiKeyMaterial } from './api-key';
import {
  checkBytes,
  checkPoolGpus,
  checkQuotas,
  quotaExceeded,
  usageOf,
  type QuotaRefusal,
  type Reservation,
} from './tenant-usage';

/**
 * The tenant aggregate (FEATURES.md B5, I1): a tenant's name, quotas and API keys, in the stream
 * `tenant-<id>`. Admission is its only writer. Pure like the job aggregate: `decide` answers a
 * command from the state, the time and the key material it is given; `evolve` folds the facts.
 *
 *   (none) --TenantCreated--> ACTIVE (one live key)
 *   ACTIVE --TenantQuotasSet | ApiKeyRotated | ApiKeyRevoked--> ACTIVE
 *   ACTIVE --JobCapacityReserved | JobCapacityReleased--> ACTIVE (usage, B2; spend, B3)
 *   ACTIVE --TenantBudgetSet--> ACTIVE
 *   ACTIVE --TenantPaused--> ACTIVE, paused --TenantResumed--> ACTIVE (the kill switch, B3)
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
      /** Job id -> what it holds, for every job admitted and not yet ended. */
      readonly reservations: Readonly<Record<string, Reservation>>;
      readonly budget: TenantBudget | null;
      /** What the jobs that ended this billing month cost (a new month starts from 0). */
      readonly spend: { readonly month: string; readonly amount: number };
      readonly paused: { readonly reason: 'budget' | 'admin'; readonly pausedAt: string } | null;
      /** The month an admin resumed the tenant over its budget: no auto-pause in that month. */
      readonly overBudgetResumeMonth: string | null;
      /** File id -> the bytes it holds against storage (B1); charged once per file. */
      readonly files: Readonly<Record<string, number>>;
      readonly storageBytes: number;
      readonly ingress: MonthBytes;
      readonly egress: MonthBytes;
    };

interface MonthBytes {
  readonly month: string;
  readonly bytes: number;
}

/** A month's bytes as of `now`: last month's ingress is not this month's. */
const bytesThisMonth = (counter: MonthBytes, now: Date): number =>
  counter.month === billingMonthOf(now) ? counter.bytes : 0;

type ActiveTenant = Extract<TenantState, { status: 'ACTIVE' }>;

/** The month's spend so far, as of `now`: last month's spend is not this month's. */
export const spendThisMonth = (state: ActiveTenant, now: Date): number =>
  state.spend.month === billingMonthOf(now) ? state.spend.amount : 0;

/** What the jobs that hold a reservation are projected to cost: spend the budget must keep room for. */
export const committedCostOf = (reservations: Readonly<Record<string, Reservation>>): number =>
  roundMoney(Object.values(reservations).reduce((sum, r) => sum + (r.projectedCost ?? 0), 0));

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
          type: Exclude<TenantCommand['type'], 'CreateTenant' | 'RotateApiKey'>;
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
        budget: null,
        spend: { month: billingMonthOf(event.data.createdAt), amount: 0 },
        paused: null,
        overBudgetResumeMonth: null,
        files: {},
        storageBytes: 0,
        ingress: { month: billingMonthOf(event.data.createdAt), bytes: 0 },
        egress: { month: billingMonthOf(event.data.createdAt), bytes: 0 },
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
                pool: event.data.pool,
                ratePerHour: event.data.ratePerHour,
                projectedCost: event.data.projectedCost,
              },
            },
          }
        : state;
    case 'JobCapacityReleased': {
      if (state.status !== 'ACTIVE' || !Object.hasOwn(state.reservations, event.data.jobId))
        return state;
      const { [event.data.jobId]: _released, ...rest } = state.reservations;
      return { ...state, reservations: rest, spend: addSpend(state.spend, event.data) };
    }
    case 'TenantBudgetSet':
      return state.status === 'ACTIVE'
        ? { ...state, budget: event.data.budget, overBudgetResumeMonth: null }
        : state;
    case 'TenantPaused':
      return state.status === 'ACTIVE'
        ? { ...state, paused: { reason: event.data.reason, pausedAt: event.data.pausedAt } }
        : state;
    case 'TenantResumed':
      return state.status === 'ACTIVE'
        ? {
            ...state,
            paused: null,
            overBudgetResumeMonth: event.data.overBudget
              ? billingMonthOf(event.data.resumedAt)
              : null,
          }
        : state;
    case 'StorageCharged':
      return state.status === 'ACTIVE'
        ? {
            ...state,
            files: { ...state.files, [event.data.fileId]: event.data.bytes },
            storageBytes: event.data.storageBytes,
            ingress: event.data.ingress,
          }
        : state;
    case 'StorageReleased': {
      if (state.status !== 'ACTIVE') return state;
      const { [event.data.fileId]: _gone, ...files } = state.files;
      return { ...state, files, storageBytes: event.data.storageBytes };
    }
    case 'EgressCharged':
      return state.status === 'ACTIVE' ? { ...state, egress: event.data.egress } : state;
    default: {
      const unhandled: never = event;
      throw new Error(`the tenant aggregate has no case for ${(unhandled as TenantEvent).type}`);
    }
  }
};

/**
 * A job's cost counts in the month it ended. A release from a month already closed (a late
 * redelivery across midnight on the 1st) does not reopen it: the current month is what guards.
 */
const addSpend = (
  spend: ActiveTenant['spend'],
  released: { readonly cost: number; readonly releasedAt: string },
): ActiveTenant['spend'] => {
  const month = billingMonthOf(released.releasedAt);
  if (month === spend.month) return { month, amount: roundMoney(spend.amount + released.cost) };
  return month > spend.month ? { month, amount: roundMoney(released.cost) } : spend;
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
  const { gpusByPool: poolsA = {}, ...restA } = a;
  const { gpusByPool: poolsB = {}, ...restB } = b;
  const same = (x: Record<string, number | undefined>, y: Record<string, number | undefined>) =>
    [...new Set([...Object.keys(x), ...Object.keys(y)])].every((k) => x[k] === y[k]);
  return same(restA, restB) && same(poolsA, poolsB);
};

const pausedRefusal = (state: ActiveTenant, jobId: string): GantryError =>
  new GantryError(
    ErrorCodes.TENANT_PAUSED,
    state.paused?.reason === 'budget'
      ? `tenant ${state.id} is paused: its spend reached its monthly budget of ` +
          `${state.budget?.monthly ?? 'n/a'}; an admin can raise the budget or resume it`
      : `tenant ${state.id} is paused by an admin`,
    { details: { reason: state.paused?.reason, pausedAt: state.paused?.pausedAt, jobId } },
  );

/**
 * The budget guard (B2, B3): the month's spend, plus what the jobs still holding a reservation are
 * projected to cost, plus this job's projection, must stay within the budget. Counting the held
 * jobs' projections is what keeps racing submissions from each fitting alone and passing together.
 */
const budgetRefusal = (
  state: ActiveTenant,
  projectedCost: number,
  now: Date,
): QuotaRefusal | null => {
  if (!state.budget) return null;
  const usage = roundMoney(spendThisMonth(state, now) + committedCostOf(state.reservations));
  if (roundMoney(usage + projectedCost) <= state.budget.monthly) return null;
  return {
    dimension: 'budget',
    usage,
    request: projectedCost,
    limit: state.budget.monthly,
    threshold: state.budget.monthly,
  };
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
      const { jobId, cores, memoryMiB, gpus, pool, ratePerHour, projectedCost } = command.data;
      // A redelivered reservation: the job already holds its share.
      if (Object.hasOwn(state.reservations, jobId)) return [];
      if (!(cores >= 0)) throw invalid('a job reserves a non-negative number of cores', { cores });
      if (!(ratePerHour >= 0 && projectedCost >= 0))
        throw invalid('a job costs a non-negative amount', { ratePerHour, projectedCost });
      if (state.paused) throw pausedRefusal(state, jobId);
      const refusal = checkQuotas(state.quotas, usageOf(state.reservations), {
        cores,
        memoryMiB,
        gpus,
        concurrentJobs: 1,
      });
      if (refusal) throw quotaExceeded(refusal, { jobId });
      const poolRefusal = checkPoolGpus(state.quotas, state.reservations, pool, gpus);
      if (poolRefusal) throw quotaExceeded(poolRefusal, { jobId });
      const overBudget = budgetRefusal(state, projectedCost, now);
      if (overBudget) throw quotaExceeded(overBudget, { jobId });
      return [
        {
          type: 'JobCapacityReserved',
          data: {
            id: state.id,
            jobId,
            cores,
            memoryMiB,
            gpus,
            pool,
            ratePerHour,
            projectedCost,
            reservedAt: at,
          },
        },
      ];
    }
    case 'ReleaseJobCapacity': {
      const { jobId, runtimeSeconds } = command.data;
      // Released already, or never reserved (rejected, cancelled before admission): nothing to do.
      // This is also what keeps a redelivered end from being billed twice.
      if (!Object.hasOwn(state.reservations, jobId)) return [];
      const held = state.reservations[jobId]!;
      if (!(runtimeSeconds >= 0))
        throw invalid('a job runs a non-negative number of seconds', { runtimeSeconds });
      return [
        {
          type: 'JobCapacityReleased',
          data: {
            id: state.id,
            jobId,
            runtimeSeconds,
            cost: costOf(held.ratePerHour ?? 0, runtimeSeconds),
            releasedAt: at,
          },
        },
      ];
    }
    case 'SetTenantBudget': {
      const parsed = TenantBudgetSchema.nullable().safeParse(command.data.budget);
      if (!parsed.success)
        throw invalid('a budget is a positive monthly amount and what to do at it', {
          issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
        });
      const budget = parsed.data;
      const same =
        budget === null || state.budget === null
          ? budget === state.budget
          : budget.monthly === state.budget.monthly &&
            budget.onExhausted === state.budget.onExhausted;
      if (same) return [];
      const events: TenantEvent[] = [
        { type: 'TenantBudgetSet', data: { id: state.id, budget, setAt: at } },
      ];
      // Raising the budget past the spend is one of the two ways out of a budget pause.
      if (
        state.paused?.reason === 'budget' &&
        (budget === null || spendThisMonth(state, now) < budget.monthly)
      )
        events.push({
          type: 'TenantResumed',
          data: { id: state.id, cause: 'budget-changed', overBudget: false, resumedAt: at },
        });
      return events;
    }
    case 'PauseTenant': {
      if (state.paused) return [];
      const spend = roundMoney(spendThisMonth(state, now) + command.data.runningAccrued);
      const budget = state.budget?.monthly ?? null;
      if (command.data.reason === 'budget') {
        // The watch may be behind the stream: the budget may be gone, raised, or overridden.
        if (budget === null || spend < budget) return [];
        if (state.overBudgetResumeMonth === billingMonthOf(now)) return [];
      }
      return [
        {
          type: 'TenantPaused',
          data: { id: state.id, reason: command.data.reason, spend, budget, pausedAt: at },
        },
      ];
    }
    case 'ResumeTenant': {
      if (!state.paused) return [];
      const budget = state.budget?.monthly ?? null;
      const overBudget = budget !== null && spendThisMonth(state, now) >= budget;
      if (command.data.cause === 'new-month') {
        // Only the month's turn lifts a budget pause by itself; an admin's pause stays.
        if (state.paused.reason !== 'budget' || overBudget) return [];
        return [
          {
            type: 'TenantResumed',
            data: { id: state.id, cause: 'new-month', overBudget: false, resumedAt: at },
          },
        ];
      }
      return [
        {
          type: 'TenantResumed',
          data: { id: state.id, cause: 'admin', overBudget, resumedAt: at },
        },
      ];
    }
    case 'ChargeStorage': {
      const { fileId, bytes } = command.data;
      if (Object.hasOwn(state.files, fileId)) return [];
      if (!(bytes >= 0)) throw invalid('a file holds a non-negative number of bytes', { bytes });
      const ingressNow = bytesThisMonth(state.ingress, now);
      const refusal =
        checkBytes('storageBytes', state.quotas.storageBytes, state.storageBytes, bytes) ??
        checkBytes('ingressBytes', state.quotas.ingressBytes, ingressNow, bytes);
      if (refusal) throw quotaExceeded(refusal, { fileId });
      return [
        {
          type: 'StorageCharged',
          data: {
            id: state.id,
            fileId,
            bytes,
            storageBytes: state.storageBytes + bytes,
            ingress: { month: billingMonthOf(now), bytes: ingressNow + bytes },
            chargedAt: at,
          },
        },
      ];
    }
    case 'ReleaseStorage': {
      const { fileId } = command.data;
      if (!Object.hasOwn(state.files, fileId)) return [];
      const bytes = state.files[fileId]!;
      return [
        {
          type: 'StorageReleased',
          data: {
            id: state.id,
            fileId,
            bytes,
            storageBytes: Math.max(0, state.storageBytes - bytes),
            releasedAt: at,
          },
        },
      ];
    }
    case 'ChargeEgress': {
      const { ref, bytes } = command.data;
      if (!(bytes >= 0)) throw invalid('a download is a non-negative number of bytes', { bytes });
      const egressNow = bytesThisMonth(state.egress, now);
      const refusal = checkBytes('egressBytes', state.quotas.egressBytes, egressNow, bytes);
      if (refusal) throw quotaExceeded(refusal, { ref });
      return [
        {
          type: 'EgressCharged',
          data: {
            id: state.id,
            ref,
            bytes,
            egress: { month: billingMonthOf(now), bytes: egressNow + bytes },
            chargedAt: at,
          },
        },
      ];
    }
    default: {
      const unhandled: never = command;
      throw new Error(`the tenant aggregate has no case for ${(unhandled as TenantCommand).type}`);
    }
  }
};
