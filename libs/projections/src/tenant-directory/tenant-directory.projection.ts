import {
  tenantEventDefinitions,
  type DomainEvent,
  type EventEnvelope,
  type TenantEvent,
} from '@gantry/contracts';
import { type ProjectionOp, type ProjectionTable } from '../projection-op';
import { type ProjectionDefinition } from '../projection';

/**
 * tenant_directory and api_keys: who the tenants are, their quotas, and the hashes of their API
 * keys by key id, which is what the gateway authenticates a bearer against (FEATURES.md I1).
 * Rebuildable from the tenant streams like every projection (invariant 6): each row's
 * `last_version` is the version of the tenant stream's event that last wrote it.
 */
export const TENANT_DIRECTORY_TABLE: ProjectionTable = {
  name: 'tenant_directory',
  key: ['tenant'],
  columns: [
    'tenant',
    'name',
    'quotas',
    'budget',
    'paused',
    'storage_bytes',
    'ingress',
    'egress',
    'created_at',
    'updated_at',
    'last_version',
  ],
  versionColumn: 'last_version',
};

export const API_KEYS_TABLE: ProjectionTable = {
  name: 'api_keys',
  key: ['key_id'],
  columns: ['key_id', 'tenant', 'hash', 'created_at', 'revoked_at', 'last_version'],
  versionColumn: 'last_version',
};

export const TENANT_RESERVATIONS_TABLE: ProjectionTable = {
  name: 'tenant_reservations',
  key: ['tenant', 'job_id'],
  columns: [
    'tenant',
    'job_id',
    'cores',
    'memory_mib',
    'gpus',
    'pool',
    'rate_per_hour',
    'projected_cost',
    'runtime_seconds',
    'cost',
    'reserved_at',
    'released_at',
    'last_version',
  ],
  versionColumn: 'last_version',
};

type EnvelopeOf<E> =
  E extends DomainEvent<infer TType, infer TData> ? EventEnvelope<TType, TData> : never;
export type TenantEventEnvelope = EnvelopeOf<TenantEvent>;

const TENANT_EVENT_TYPES: ReadonlySet<string> = new Set(tenantEventDefinitions.map((d) => d.type));

/** By type only: envelopes reach a projector already parsed and upcast (see isJobEvent). */
export const isTenantEvent = (event: EventEnvelope): event is TenantEventEnvelope =>
  TENANT_EVENT_TYPES.has(event.type);

const json = (value: unknown): string => JSON.stringify(value);

export const projectTenantDirectory = (event: EventEnvelope): ProjectionOp[] => {
  if (!isTenantEvent(event)) return [];
  const { streamVersion: version } = event.metadata;
  // The tenant is the aggregate's own id (its data), not whoever the envelope was sent as.
  const tenant = event.data.id;
  const directory = TENANT_DIRECTORY_TABLE.name;
  const keys = API_KEYS_TABLE.name;
  switch (event.type) {
    case 'TenantCreated': {
      const { name, quotas, apiKey, createdAt } = event.data;
      return [
        {
          kind: 'upsert',
          table: directory,
          key: { tenant },
          version,
          values: { name, quotas: json(quotas), created_at: createdAt, updated_at: createdAt },
        },
        {
          kind: 'upsert',
          table: keys,
          key: { key_id: apiKey.keyId },
          version,
          values: { tenant, hash: apiKey.hash, created_at: apiKey.createdAt, revoked_at: null },
        },
      ];
    }
    case 'TenantQuotasSet':
      return [
        {
          kind: 'update',
          table: directory,
          key: { tenant },
          version,
          set: { quotas: json(event.data.quotas), updated_at: event.data.setAt },
        },
      ];
    case 'ApiKeyRotated': {
      const { apiKey, revokedKeyId, rotatedAt } = event.data;
      const ops: ProjectionOp[] = [
        {
          kind: 'upsert',
          table: keys,
          key: { key_id: apiKey.keyId },
          version,
          values: { tenant, hash: apiKey.hash, created_at: apiKey.createdAt, revoked_at: null },
        },
      ];
      if (revokedKeyId !== null)
        ops.push({
          kind: 'update',
          table: keys,
          key: { key_id: revokedKeyId },
          version,
          set: { revoked_at: rotatedAt },
        });
      return ops;
    }
    case 'ApiKeyRevoked':
      return [
        {
          kind: 'update',
          table: keys,
          key: { key_id: event.data.keyId },
          version,
          set: { revoked_at: event.data.revokedAt },
        },
      ];
    // Usage (B4) as admission decided it: a row per reserved job, stamped when released.
    case 'JobCapacityReserved': {
      const { jobId, cores, memoryMiB, gpus, pool, ratePerHour, projectedCost, reservedAt } =
        event.data;
      return [
        {
          kind: 'upsert',
          table: TENANT_RESERVATIONS_TABLE.name,
          key: { tenant, job_id: jobId },
          version,
          values: {
            cores,
            memory_mib: memoryMiB,
            gpus,
            pool,
            rate_per_hour: ratePerHour,
            projected_cost: projectedCost,
            runtime_seconds: 0,
            cost: 0,
            reserved_at: reservedAt,
            released_at: null,
          },
        },
      ];
    }
    case 'JobCapacityReleased':
      return [
        {
          kind: 'update',
          table: TENANT_RESERVATIONS_TABLE.name,
          key: { tenant, job_id: event.data.jobId },
          version,
          set: {
            released_at: event.data.releasedAt,
            runtime_seconds: event.data.runtimeSeconds,
            cost: event.data.cost,
          },
        },
      ];
    case 'TenantBudgetSet':
      return [
        {
          kind: 'update',
          table: directory,
          key: { tenant },
          version,
          set: {
            budget: event.data.budget === null ? null : json(event.data.budget),
            updated_at: event.data.setAt,
          },
        },
      ];
    case 'TenantPaused': {
      const { reason, spend, budget, pausedAt } = event.data;
      return [
        {
          kind: 'update',
          table: directory,
          key: { tenant },
          version,
          set: { paused: json({ reason, spend, budget, pausedAt }), updated_at: pausedAt },
        },
      ];
    }
    case 'TenantResumed':
      return [
        {
          kind: 'update',
          table: directory,
          key: { tenant },
          version,
          set: { paused: null, updated_at: event.data.resumedAt },
        },
      ];
    case 'StorageCharged': {
      const { storageBytes, ingress, chargedAt } = event.data;
      return [
        {
          kind: 'update',
          table: directory,
          key: { tenant },
          version,
          set: { storage_bytes: storageBytes, ingress: json(ingress), updated_at: chargedAt },
        },
      ];
    }
    case 'StorageReleased':
      return [
        {
          kind: 'update',
          table: directory,
          key: { tenant },
          version,
          set: { storage_bytes: event.data.storageBytes, updated_at: event.data.releasedAt },
        },
      ];
    case 'EgressCharged':
      return [
        {
          kind: 'update',
          table: directory,
          key: { tenant },
          version,
          set: { egress: json(event.data.egress), updated_at: event.data.chargedAt },
        },
      ];
    default: {
      const unhandled: never = event;
      throw new Error(`tenant_directory has no case for ${(unhandled as EventEnvelope).type}`);
    }
  }
};

export const tenantDirectoryProjection: ProjectionDefinition = {
  name: 'tenant_directory',
  aggregates: ['tenant'],
  tables: [TENANT_DIRECTORY_TABLE, API_KEYS_TABLE, TENANT_RESERVATIONS_TABLE],
  project: projectTenantDirectory,
};
