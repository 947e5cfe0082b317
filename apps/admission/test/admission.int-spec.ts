import { type INestMicroservice } from '@nestjs/common';

import { type NatsConnection } from '@nats-io/transport-node';
import { type Pool } from 'pg';
import { ErrorCodes, type CommandEnvelope, type SubjectCatalogue } from '@gantry/contracts';
import {
  eventStoreMigrations,
  type PostgresEventStore,
  waitUntilVisible,
} from '@gantry/event-store';
import { messagingMigrations, sendCommand } from '@gantry/messaging';
import {
  authenticateApiKey,
  catchUpProjection,
  PostgresProjectionSink,
  projectionMigrations,
  tenantDirectoryProjection,
} from '@gantry/projections';
import { createServiceTestBed, type ServiceTestBed } from '@gantry/service-testing';

import { startAdmissionApp } from '../src/app';
import { type IssuedKeyReply, type TenantReply } from '../src/tenant-commands';
import { anAdminCommand, refusalOf } from './support';

/**
 * Admission in-process on real Postgres and NATS, driven over its command subjects. The tenant
 * directory is brought up to date straight from the store (no bus timing involved).
 */
let bed: ServiceTestBed;
let subjects: SubjectCatalogue;
let pool: Pool;
let store: PostgresEventStore;
let sink: PostgresProjectionSink;
let nc: NatsConnection;
let app: INestMicroservice;

beforeAll(async () => {
  bed = await createServiceTestBed({
    name: 'gantry_adm',
    migrations: [...eventStoreMigrations, ...messagingMigrations, ...projectionMigrations],
    poolSize: 10,
  });
  ({ subjects, pool, store, nc } = bed);
  sink = new PostgresProjectionSink(pool, tenantDirectoryProjection, store);
  app = await startAdmissionApp({
    nats: nc,
    subjects,
    store,
    logger: process.env.GANTRY_TEST_LOGS ? ['log', 'warn', 'error'] : false,
  });
});

afterAll(async () => {
  await app?.close();
  await bed?.close();
});

const send = <T = IssuedKeyReply>(verb: string, command: CommandEnvelope): Promise<T> =>
  sendCommand<T>(nc, subjects, 'admission', verb, command, { timeoutMs: 15_000 });

const createTenant = (id: string, metadata: Partial<CommandEnvelope['metadata']> = {}) =>
  send(
    'create-tenant',
    anAdminCommand(
      'CreateTenant',
      { id, name: `Tenant ${id}`, quotas: { cores: 64, concurrentJobs: 100 } },
      metadata,
    ),
  );

const eventCount = async (): Promise<number> =>
  Number((await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events')).rows[0]!.n);
/** Catches the directory up with everything stored so far (readAll's horizon is server-wide). */
const project = async () => {
  await waitUntilVisible(store, await eventCount());
  return catchUpProjection(store, sink);
};

describe('admission tenant commands', () => {
  it('creates a tenant and answers a key, shown once, that authenticates once projected', async () => {
    const command = anAdminCommand('CreateTenant', {
      id: 'acme',
      name: 'Acme',
      quotas: { cores: 64, concurrentJobs: 100 },
    });
    const reply = await send('create-tenant', command);
    expect(reply).toEqual({
      id: 'acme',
      apiKey: expect.stringMatching(/^gk_[0-9a-f]{24}_[A-Za-z0-9_-]{43}$/),
      keyId: expect.any(String),
      version: 1,
    });
    const events = await store.readStream('tenant-acme');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'TenantCreated',
      data: { id: 'acme', name: 'Acme', quotas: { cores: 64, concurrentJobs: 100 } },
      metadata: { tenant: 'acme', actor: 'admin:ops', causationId: command.id, streamVersion: 1 },
    });
    // Stored only hashed: neither the key nor its secret is anywhere in the store.
    const secret = reply.apiKey.split('_').slice(2).join('_');
    const { rows } = await pool.query<{ row: string }>('SELECT e::text AS row FROM events e');
    for (const { row } of rows) expect(row).not.toContain(secret);

    await project();
    expect(await authenticateApiKey(pool, `Bearer ${reply.apiKey}`)).toEqual({
      tenant: 'acme',
      keyId: reply.keyId,
    });
    expect(
      (await pool.query('SELECT name, quotas FROM tenant_directory WHERE tenant = $1', ['acme']))
        .rows,
    ).toEqual([{ name: 'Acme', quotas: { cores: 64, concurrentJobs: 100 } }]);
  });

  it('refuses a wrong key, a malformed bearer, and another key id', async () => {
    const { apiKey, keyId } = await createTenant('wrongkey');
    await project();
    const secret = apiKey.slice(`gk_${keyId}_`.length);
    const flipped = `gk_${keyId}_${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`;
    for (const bearer of [
      `Bearer ${flipped}`,
      `Bearer gk_${'0'.repeat(24)}_${secret}`,
      'Bearer',
      'Bearer not-a-key',
      `Basic ${apiKey}`,
      '',
    ])
      expect(await authenticateApiKey(pool, bearer)).toBeNull();
  });

  it('rotates a key (the old one stops working) and revokes keys', async () => {
    const first = await createTenant('rotating');
    const second = await send('rotate-key', anAdminCommand('RotateApiKey', { id: 'rotating' }));
    expect(second).toMatchObject({ id: 'rotating', version: 2 });
    expect(second.apiKey).not.toBe(first.apiKey);
    await project();
    expect(await authenticateApiKey(pool, `Bearer ${first.apiKey}`)).toBeNull();
    expect(await authenticateApiKey(pool, `Bearer ${second.apiKey}`)).toMatchObject({
      tenant: 'rotating',
    });

    const revoked = await send<TenantReply>(
      'revoke-key',
      anAdminCommand('RevokeApiKey', { id: 'rotating', keyId: second.keyId }),
    );
    expect(revoked).toEqual({ id: 'rotating', version: 3 });
    await project();
    expect(await authenticateApiKey(pool, `Bearer ${second.apiKey}`)).toBeNull();
  });

  it('sets quotas', async () => {
    await createTenant('quotas');
    const reply = await send<TenantReply>(
      'set-quotas',
      anAdminCommand('SetTenantQuotas', { id: 'quotas', quotas: { cores: 8, gpus: 1 } }),
    );
    expect(reply).toEqual({ id: 'quotas', version: 2 });
    await project();
    expect(
      (await pool.query('SELECT quotas FROM tenant_directory WHERE tenant = $1', ['quotas'])).rows,
    ).toEqual([{ quotas: { cores: 8, gpus: 1 } }]);
  });

  it.each([
    ['no actor', { actor: undefined }],
    ["a tenant's key", { actor: 'key-acme-1', tenant: 'acme' }],
    ['a look-alike', { actor: 'administrator' }],
  ])('refuses %s with FORBIDDEN and writes nothing', async (_case, metadata) => {
    const before = await eventCount();
    const command = anAdminCommand(
      'CreateTenant',
      { id: 'intruder', name: 'Intruder', quotas: {} },
      metadata,
    );
    if (metadata.actor === undefined) delete (command.metadata as { actor?: string }).actor;
    expect((await refusalOf(send('create-tenant', command))).code).toBe(ErrorCodes.FORBIDDEN);
    expect(
      (
        await refusalOf(
          send('rotate-key', { ...command, type: 'RotateApiKey', data: { id: 'acme' } }),
        )
      ).code,
    ).toBe(ErrorCodes.FORBIDDEN);
    expect(await eventCount()).toBe(before);
    expect(await store.readStream('tenant-intruder')).toEqual([]);
  });

  it('refuses a duplicate tenant with TENANT_EXISTS, keeping the first key', async () => {
    const first = await createTenant('dupe');
    expect((await refusalOf(createTenant('dupe'))).code).toBe(ErrorCodes.TENANT_EXISTS);
    expect((await store.readStream('tenant-dupe')).map((e) => e.type)).toEqual(['TenantCreated']);
    await project();
    expect(await authenticateApiKey(pool, first.apiKey)).toMatchObject({ tenant: 'dupe' });
  });

  it.each(['Acme', 'acme.corp', '-acme', 'a'.repeat(64), '_system', '*'])(
    'refuses the tenant id %j with VALIDATION_FAILED and writes nothing',
    async (id) => {
      const before = await eventCount();
      expect((await refusalOf(createTenant(id))).code).toBe(ErrorCodes.VALIDATION_FAILED);
      expect(await eventCount()).toBe(before);
    },
  );

  it('refuses commands on a tenant that does not exist with NOT_FOUND', async () => {
    expect(
      (await refusalOf(send('rotate-key', anAdminCommand('RotateApiKey', { id: 'ghost' })))).code,
    ).toBe(ErrorCodes.NOT_FOUND);
    expect(await store.readStream('tenant-ghost')).toEqual([]);
  });
});
