import { Pool } from 'pg';
import { eventRegistry, type TenantEvent } from '@gantry/contracts';
import {
  API_KEY_RANDOM_BYTES,
  apiKeyMaterialFrom,
  decideTenant,
  foldTenant,
  formatApiKey,
  type TenantDecision,
} from '@gantry/domain';
import {
  eventStoreMigrations,
  PostgresEventStore,
  runMigrations,
  waitUntilVisible,
} from '@gantry/event-store';
import { createTestDatabase, type TestDatabase } from '@gantry/testing';
import {
  authenticateApiKey,
  catchUpProjection,
  PostgresProjectionSink,
  projectionMigrations,
  rebuildProjection,
  tenantDirectoryProjection,
} from '../index';

/** The tenant directory on real Postgres: built from the store, rebuilt identical, and queried. */
let db: TestDatabase;
let pool: Pool;
let store: PostgresEventStore;
let sink: PostgresProjectionSink;

beforeAll(async () => {
  db = await createTestDatabase('tenant_dir');
  await runMigrations(db.url, [...eventStoreMigrations, ...projectionMigrations]);
  pool = new Pool({ connectionString: db.url, max: 4 });
  store = new PostgresEventStore(pool, eventRegistry);
  sink = new PostgresProjectionSink(pool, tenantDirectoryProjection, store);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const keyOf = (seed: number) => apiKeyMaterialFrom(new Uint8Array(API_KEY_RANDOM_BYTES).fill(seed));

/** Decides and appends, as admission does (without the bus). */
const run = async (id: string, decision: TenantDecision, at: number): Promise<void> => {
  const streamId = `tenant-${id}`;
  const history = await store.readStream(streamId);
  const state = foldTenant(
    id,
    history.map((e) => ({ type: e.type, data: e.data }) as TenantEvent),
  );
  const events = decideTenant(state, decision, new Date(Date.UTC(2026, 10, 1, 9, 0, at)));
  await store.append(
    streamId,
    history.length,
    events.map((event) => ({
      type: event.type,
      data: event.data,
      metadata: {
        tenant: id,
        causationId: null,
        correlationId: `corr-${id}`,
        actor: 'admin',
        occurredAt: new Date(Date.UTC(2026, 10, 1, 9, 0, at)),
      },
    })),
  );
};

const snapshot = async () => ({
  tenants: (await pool.query('SELECT * FROM tenant_directory ORDER BY tenant')).rows,
  keys: (await pool.query('SELECT * FROM api_keys ORDER BY key_id')).rows,
});

it('projects tenants and keys, authenticates live keys only, and rebuilds identical', async () => {
  const [k1, k2, k3] = [keyOf(1), keyOf(2), keyOf(3)];
  const quotas = { cores: 64, concurrentJobs: 100 };
  await run(
    'acme',
    { command: { type: 'CreateTenant', data: { id: 'acme', name: 'Acme', quotas } }, key: k1 },
    1,
  );
  await run(
    'globex',
    {
      command: { type: 'CreateTenant', data: { id: 'globex', name: 'Globex', quotas: {} } },
      key: k3,
    },
    2,
  );
  await waitUntilVisible(store, 2);
  await catchUpProjection(store, sink);
  expect(await authenticateApiKey(pool, `Bearer ${formatApiKey(k1)}`)).toEqual({
    tenant: 'acme',
    keyId: k1.keyId,
  });
  expect(await authenticateApiKey(pool, `Bearer ${formatApiKey(k3)}`)).toEqual({
    tenant: 'globex',
    keyId: k3.keyId,
  });

  await run(
    'acme',
    { command: { type: 'SetTenantQuotas', data: { id: 'acme', quotas: { cores: 8 } } } },
    3,
  );
  await run('acme', { command: { type: 'RotateApiKey', data: { id: 'acme' } }, key: k2 }, 4);
  await waitUntilVisible(store, 4);
  await catchUpProjection(store, sink);
  expect(await authenticateApiKey(pool, `Bearer ${formatApiKey(k1)}`)).toBeNull();
  expect(await authenticateApiKey(pool, `Bearer ${formatApiKey(k2)}`)).toMatchObject({
    tenant: 'acme',
  });
  const acme = (await snapshot()).tenants.find((t) => t.tenant === 'acme');
  expect(acme).toMatchObject({ name: 'Acme', quotas: { cores: 8 }, last_version: 2 });

  await run(
    'acme',
    { command: { type: 'RevokeApiKey', data: { id: 'acme', keyId: k2.keyId } } },
    5,
  );
  await waitUntilVisible(store, 5);
  await catchUpProjection(store, sink);
  expect(await authenticateApiKey(pool, `Bearer ${formatApiKey(k2)}`)).toBeNull();

  const live = await snapshot();
  const rebuilt = await rebuildProjection(store, sink);
  expect(rebuilt.eventsApplied).toBe(5);
  expect(await snapshot()).toEqual(live);
});
