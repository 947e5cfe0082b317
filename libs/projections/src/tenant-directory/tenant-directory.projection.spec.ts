import { randomUUID } from 'node:crypto';
import { type EventEnvelope, type TenantEvent } from '@gantry/contracts';
import { opToSql } from '../op-sql';
import {
  API_KEYS_TABLE,
  projectTenantDirectory,
  TENANT_DIRECTORY_TABLE,
  TENANT_RESERVATIONS_TABLE,
  tenantDirectoryProjection,
} from './tenant-directory.projection';

const T = (s: number): string =>
  new Date(Date.parse('2026-11-01T09:00:00Z') + s * 1000).toISOString();
const KEY_A = 'a'.repeat(24);
const KEY_B = 'b'.repeat(24);
const HASH = `hmac-sha256:${'h'.repeat(43)}`;

const envelope = (event: TenantEvent, version: number, tenant = 'acme'): EventEnvelope => ({
  id: randomUUID(),
  type: event.type,
  schemaVersion: 1,
  data: event.data,
  metadata: {
    tenant,
    occurredAt: T(version),
    causationId: null,
    correlationId: 'corr',
    streamId: `tenant-${event.data.id}`,
    streamVersion: version,
  },
});

const created: TenantEvent = {
  type: 'TenantCreated',
  data: {
    id: 'acme',
    name: 'Acme',
    quotas: { cores: 64 },
    apiKey: { keyId: KEY_A, hash: HASH, createdAt: T(1) },
    createdAt: T(1),
  },
};

describe('tenant_directory projection', () => {
  it('writes the tenant and its first key on TenantCreated', () => {
    expect(projectTenantDirectory(envelope(created, 1))).toEqual([
      {
        kind: 'upsert',
        table: 'tenant_directory',
        key: { tenant: 'acme' },
        version: 1,
        values: { name: 'Acme', quotas: '{"cores":64}', created_at: T(1), updated_at: T(1) },
      },
      {
        kind: 'upsert',
        table: 'api_keys',
        key: { key_id: KEY_A },
        version: 1,
        values: { tenant: 'acme', hash: HASH, created_at: T(1), revoked_at: null },
      },
    ]);
  });

  it('replaces the quotas on TenantQuotasSet', () => {
    const event: TenantEvent = {
      type: 'TenantQuotasSet',
      data: { id: 'acme', quotas: { gpus: 2 }, setAt: T(2) },
    };
    expect(projectTenantDirectory(envelope(event, 2))).toEqual([
      {
        kind: 'update',
        table: 'tenant_directory',
        key: { tenant: 'acme' },
        version: 2,
        set: { quotas: '{"gpus":2}', updated_at: T(2) },
      },
    ]);
  });

  it('adds the new key and revokes the old one on ApiKeyRotated', () => {
    const event: TenantEvent = {
      type: 'ApiKeyRotated',
      data: {
        id: 'acme',
        apiKey: { keyId: KEY_B, hash: HASH, createdAt: T(3) },
        revokedKeyId: KEY_A,
        rotatedAt: T(3),
      },
    };
    const ops = projectTenantDirectory(envelope(event, 3));
    expect(ops).toEqual([
      expect.objectContaining({ kind: 'upsert', key: { key_id: KEY_B }, version: 3 }),
      {
        kind: 'update',
        table: 'api_keys',
        key: { key_id: KEY_A },
        version: 3,
        set: { revoked_at: T(3) },
      },
    ]);
    const noOld = { ...event, data: { ...event.data, revokedKeyId: null } } as TenantEvent;
    expect(projectTenantDirectory(envelope(noOld, 3))).toHaveLength(1);
  });

  it('marks the key revoked on ApiKeyRevoked', () => {
    const event: TenantEvent = {
      type: 'ApiKeyRevoked',
      data: { id: 'acme', keyId: KEY_A, revokedAt: T(4) },
    };
    expect(projectTenantDirectory(envelope(event, 4))).toEqual([
      {
        kind: 'update',
        table: 'api_keys',
        key: { key_id: KEY_A },
        version: 4,
        set: { revoked_at: T(4) },
      },
    ]);
  });

  const reservedEvent = (at: string): TenantEvent => ({
    type: 'JobCapacityReserved',
    data: {
      id: 'acme',
      jobId: 'j1',
      cores: 2.5,
      memoryMiB: 1024,
      gpus: 1,
      pool: 'gpu',
      ratePerHour: 6,
      projectedCost: 3,
      reservedAt: at,
    },
  });
  const releasedEvent = (at: string): TenantEvent => ({
    type: 'JobCapacityReleased',
    data: { id: 'acme', jobId: 'j1', runtimeSeconds: 600, cost: 1, releasedAt: at },
  });

  it('keeps a row per reserved job and stamps it when released, with its cost (B3, B4)', () => {
    const reserved = reservedEvent(T(5));
    const released = releasedEvent(T(9));
    expect(projectTenantDirectory(envelope(reserved, 5))).toEqual([
      {
        kind: 'upsert',
        table: TENANT_RESERVATIONS_TABLE.name,
        key: { tenant: 'acme', job_id: 'j1' },
        version: 5,
        values: {
          cores: 2.5,
          memory_mib: 1024,
          gpus: 1,
          pool: 'gpu',
          rate_per_hour: 6,
          projected_cost: 3,
          runtime_seconds: 0,
          cost: 0,
          reserved_at: T(5),
          released_at: null,
        },
      },
    ]);
    expect(projectTenantDirectory(envelope(released, 6))).toEqual([
      {
        kind: 'update',
        table: TENANT_RESERVATIONS_TABLE.name,
        key: { tenant: 'acme', job_id: 'j1' },
        version: 6,
        set: { released_at: T(9), runtime_seconds: 600, cost: 1 },
      },
    ]);
  });

  it('keys rows by the tenant in the data and ignores events of other aggregates', () => {
    const ops = projectTenantDirectory(envelope(created, 1, '_system'));
    expect(ops[0]!.key).toEqual({ tenant: 'acme' });
    expect(
      projectTenantDirectory({
        ...envelope(created, 1),
        type: 'JobAdmitted',
        data: { jobId: 'j', admittedAt: T(1) },
      }),
    ).toEqual([]);
  });

  it('only writes declared columns of its declared tables', () => {
    const tables = new Map(tenantDirectoryProjection.tables.map((t) => [t.name, t]));
    expect([...tables.keys()]).toEqual([
      TENANT_DIRECTORY_TABLE.name,
      API_KEYS_TABLE.name,
      TENANT_RESERVATIONS_TABLE.name,
    ]);
    const budgeted: TenantEvent = {
      type: 'TenantBudgetSet',
      data: { id: 'acme', budget: { monthly: 10, onExhausted: 'stop' }, setAt: T(2) },
    };
    const paused: TenantEvent = {
      type: 'TenantPaused',
      data: { id: 'acme', reason: 'budget', spend: 10, budget: 10, pausedAt: T(4) },
    };
    const resumed: TenantEvent = {
      type: 'TenantResumed',
      data: { id: 'acme', cause: 'admin', overBudget: true, resumedAt: T(5) },
    };
    const bytes: TenantEvent[] = [
      {
        type: 'StorageCharged',
        data: {
          id: 'acme',
          fileId: 'f1',
          bytes: 10,
          storageBytes: 10,
          ingress: { month: '2026-11', bytes: 10 },
          chargedAt: T(6),
        },
      },
      {
        type: 'StorageReleased',
        data: { id: 'acme', fileId: 'f1', bytes: 10, storageBytes: 0, releasedAt: T(7) },
      },
      {
        type: 'EgressCharged',
        data: {
          id: 'acme',
          ref: 'j/out',
          bytes: 5,
          egress: { month: '2026-11', bytes: 5 },
          chargedAt: T(8),
        },
      },
    ];
    const events = [
      created,
      budgeted,
      reservedEvent(T(2)),
      releasedEvent(T(3)),
      paused,
      resumed,
      ...bytes,
    ];
    const ops = events.flatMap((event, i) => projectTenantDirectory(envelope(event, i + 1)));
    for (const op of ops) expect(() => opToSql(op, tables.get(op.table)!)).not.toThrow();
  });
});
