import { jetstream } from '@nats-io/jetstream';
import { type INestMicroservice } from '@nestjs/common';
import { type NatsConnection } from '@nats-io/transport-node';
import { type Pool } from 'pg';
import {
  ErrorCodes,
  type CommandEnvelope,
  type EventEnvelope,
  type SubjectCatalogue,
} from '@gantry/contracts';
import {
  EventPublisher,
  eventStoreMigrations,
  type PostgresEventStore,
  waitUntilVisible,
} from '@gantry/event-store';
import { encodeEnvelope, messagingMigrations, sendCommand, streamNames } from '@gantry/messaging';
import {
  catchUpProjection,
  jobSummaryProjection,
  PostgresProjectionSink,
  projectionMigrations,
  tenantDirectoryProjection,
} from '@gantry/projections';
import {
  aCommandEnvelope,
  createServiceTestBed,
  type ServiceTestBed,
} from '@gantry/service-testing';
// The submit path needs the real controller; in-process, so the test owns its lifetime and clock.
// eslint-disable-next-line @nx/enforce-module-boundaries -- a test-only seam
import { startControllerApp } from '../../controller/src/app';
import { startAdmissionApp } from '../src/app';
import { CAPACITY_RELEASE_CONSUMERS } from '../src/job-admission.controller';
import { JobAdmissionService, type SubmitReply } from '../src/job-admission.service';
import { UsageReconcilerService } from '../src/usage-reconciler.service';
import { anAdminCommand, refusalOf } from './support';
import { eventually } from '@gantry/testing';

/**
 * The submit path end to end on real Postgres and NATS: admission and the controller in-process,
 * and an event publisher, the only way events reach JetStream (and so the release consumer).
 */
let bed: ServiceTestBed;
let subjects: SubjectCatalogue;
let pool: Pool;
let store: PostgresEventStore;
let nc: NatsConnection;
let controller: INestMicroservice;
let admission: INestMicroservice;
/** A second replica: racing reservations then meet on the tenant stream, not only in one process. */
let replica: INestMicroservice;
let publisher: EventPublisher;

beforeAll(async () => {
  bed = await createServiceTestBed({
    name: 'gantry_adm_submit',
    migrations: [...eventStoreMigrations, ...messagingMigrations, ...projectionMigrations],
    poolSize: 20,
  });
  ({ subjects, pool, store, nc } = bed);
  const logger = process.env.GANTRY_TEST_LOGS ? (['log', 'warn', 'error'] as const) : false;
  controller = await startControllerApp({
    nats: nc,
    subjects,
    store,
    logger: logger && [...logger],
  });
  admission = await startAdmissionApp({
    nats: nc,
    subjects,
    store,
    pool,
    // The test sweeps by hand, with no age limit, when it wants one.
    recoveryIntervalMs: 0,
    recoveryAgeMs: 0,
    // Reconciliation too, so that no background pass races the test's own.
    reconcileIntervalMs: 0,
    logger: logger && [...logger],
  });
  replica = await startAdmissionApp({ nats: nc, subjects, store, logger: logger && [...logger] });
  publisher = new EventPublisher({
    databaseUrl: bed.db.url,
    store,
    js: jetstream(nc),
    subjects,
    name: 'admission-test',
  });
  publisher.start();
}, 60_000);

afterAll(async () => {
  await publisher?.stop();
  await replica?.close();
  await admission?.close();
  await controller?.close();
  await bed?.close();
});

const spec = (cpu: number, nodes = 1) => ({
  command: ['sh', '-c', 'true'],
  resources: { cpu, memoryMiB: 64 },
  nodes,
});

const submitCommand = (tenant: string, cpu: number, nodes = 1, key: string | null = null) =>
  aCommandEnvelope(
    'SubmitJob',
    { spec: spec(cpu, nodes), idempotencyKey: key },
    { tenant, actor: `key-${tenant}` },
  );

const submit = (tenant: string, cpu: number, nodes = 1, key: string | null = null) =>
  sendCommand<SubmitReply>(
    nc,
    subjects,
    'admission',
    'submit',
    submitCommand(tenant, cpu, nodes, key),
    {
      timeoutMs: 30_000,
    },
  );

const toController = (verb: string, command: CommandEnvelope) =>
  sendCommand<{ jobId: string; state: string }>(nc, subjects, 'controller', verb, command, {
    timeoutMs: 15_000,
  });

const createTenant = (id: string, quotas: Record<string, number>) =>
  sendCommand(
    nc,
    subjects,
    'admission',
    'create-tenant',
    anAdminCommand('CreateTenant', { id, name: id, quotas }),
    { timeoutMs: 15_000 },
  );

const typesOf = async (streamId: string): Promise<string[]> =>
  (await store.readStream(streamId)).map((e) => e.type);

const tenantEvents = (tenant: string, type: string, jobId?: string) =>
  store
    .readStream(`tenant-${tenant}`)
    .then((events) =>
      events.filter((e) => e.type === type && (jobId === undefined || e.data['jobId'] === jobId)),
    );

/** Whether the JobCancelled release consumer has settled everything up to `seq` on the events stream. */
const consumerCaughtUp = async (seq: number): Promise<true | undefined> => {
  const consumer = CAPACITY_RELEASE_CONSUMERS.find((c) => c.durableName.endsWith('JobCancelled'))!;
  const info = await bed.jsm.consumers.info(streamNames(subjects).events, consumer.durableName);
  return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0 ? true : undefined;
};

describe('admission.submit', () => {
  beforeAll(async () => {
    await createTenant('fits', { cores: 64, concurrentJobs: 100 });
    await createTenant('small', { cores: 10, concurrentJobs: 100 });
    await createTenant('burst', { concurrentJobs: 12 });
    await createTenant('crowd', { cores: 56 });
    await createTenant('cycle', { cores: 10 });
    await createTenant('unlimited', {});
  });

  it('queues a job under quota and reserves its cores (cpu x nodes) on the tenant stream', async () => {
    const command = submitCommand('fits', 2, 3);
    const reply = await sendCommand<SubmitReply>(nc, subjects, 'admission', 'submit', command);
    expect(reply).toEqual({ jobId: expect.any(String), state: 'QUEUED' });
    expect(await typesOf(`job-${reply.jobId}`)).toEqual([
      'JobSubmitted',
      'JobAdmitted',
      'JobQueued',
    ]);
    const [submitted] = await store.readStream(`job-${reply.jobId}`);
    expect(submitted!.metadata).toMatchObject({
      tenant: 'fits',
      actor: 'key-fits',
      correlationId: command.metadata.correlationId,
    });
    expect(await tenantEvents('fits', 'JobCapacityReserved', reply.jobId)).toEqual([
      expect.objectContaining({
        data: expect.objectContaining({ jobId: reply.jobId, cores: 6 }),
        metadata: expect.objectContaining({ tenant: 'fits', causationId: command.id }),
      }),
    ]);
  });

  it('treats a dimension without a quota as unlimited', async () => {
    expect((await submit('unlimited', 500, 4)).state).toBe('QUEUED');
  });

  it('refuses a job over the cores quota with the numbers, and the job is REJECTED', async () => {
    expect((await submit('small', 4)).state).toBe('QUEUED');
    const refusal = await submit('small', 5).then(
      () => {
        throw new Error('admitted over quota');
      },
      (err: { code: string; message: string; details: Record<string, unknown> }) => err,
    );
    expect(refusal.code).toBe(ErrorCodes.QUOTA_EXCEEDED);
    expect(refusal.details).toEqual({
      dimension: 'cores',
      usage: 4,
      request: 5,
      limit: 10,
      threshold: 9,
      jobId: expect.any(String),
    });
    expect(refusal.message).toMatch(/cores/);
    const jobId = refusal.details['jobId'] as string;
    const history = await store.readStream(`job-${jobId}`);
    expect(history.map((e) => e.type)).toEqual(['JobSubmitted', 'JobRejected']);
    expect(history[1]!.data).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      reason: refusal.message,
      details: { dimension: 'cores', usage: 4, request: 5, limit: 10, threshold: 9 },
    });
    expect(await tenantEvents('small', 'JobCapacityReserved', jobId)).toEqual([]);
  });

  it('gives one job for the same Idempotency-Key twice, and the same refusal twice', async () => {
    const first = await submit('fits', 1, 1, 'same-key');
    const second = await submit('fits', 1, 1, 'same-key');
    expect(second).toEqual(first);
    expect(await typesOf(`job-${first.jobId}`)).toEqual([
      'JobSubmitted',
      'JobAdmitted',
      'JobQueued',
    ]);
    expect(await tenantEvents('fits', 'JobCapacityReserved', first.jobId)).toHaveLength(1);

    const refusals = [
      await refusalOf(submit('small', 9, 1, 'too-big')),
      await refusalOf(submit('small', 9, 1, 'too-big')),
    ];
    expect(refusals.map((r) => r.code)).toEqual(['QUOTA_EXCEEDED', 'QUOTA_EXCEEDED']);
    const again = await submit('small', 9, 1, 'too-big').catch(
      (err: { details: Record<string, unknown> }) => err.details,
    );
    expect(again).toMatchObject({ dimension: 'cores', limit: 10, request: 9 });
    const rejected = await pool.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM events WHERE type = 'JobRejected' AND stream_id = $1",
      [`job-${(again as Record<string, unknown>)['jobId'] as string}`],
    );
    expect(rejected.rows[0]!.n).toBe('1');
  });

  it('admits exactly the jobs that fit of 30 racing submissions, never one more', async () => {
    // concurrentJobs 12: the 90 % line is 10.8, so 10 jobs fit and an 11th would reach it.
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, () =>
        submit('burst', 1).then(
          (reply) => reply.state,
          (err: { code: string }) => err.code,
        ),
      ),
    );
    const count = (what: string) => outcomes.filter((o) => o === what).length;
    expect({ queued: count('QUEUED'), refused: count('QUOTA_EXCEEDED') }).toEqual({
      queued: 10,
      refused: 20,
    });
    expect(await tenantEvents('burst', 'JobCapacityReserved')).toHaveLength(10);
  }, 60_000);

  it('admits exactly 50 of 200 racing submissions for a quota that fits 50, across two replicas', async () => {
    // cores 56: the 90 % line is 50.4, so fifty 1-core jobs fit and the 51st would pass it.
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, () =>
        submit('crowd', 1).then(
          (reply) => reply.state,
          (err: { code: string }) => err.code,
        ),
      ),
    );
    const count = (what: string) => outcomes.filter((o) => o === what).length;
    expect({ queued: count('QUEUED'), refused: count('QUOTA_EXCEEDED') }).toEqual({
      queued: 50,
      refused: 150,
    });
    const reserved = await tenantEvents('crowd', 'JobCapacityReserved');
    expect(reserved).toHaveLength(50);
    // Fifty different submissions, one reservation each: none was reserved twice.
    expect(new Set(reserved.map((e) => e.data['jobId'])).size).toBe(50);
  }, 180_000);

  it('releases a job’s capacity once when it ends, and a redelivery releases nothing more', async () => {
    const { jobId } = await submit('cycle', 8);
    expect((await refusalOf(submit('cycle', 1))).code).toBe(ErrorCodes.QUOTA_EXCEEDED);

    await toController(
      'cancel',
      aCommandEnvelope(
        'CancelJob',
        { jobId, reason: 'done with it' },
        { tenant: 'cycle', actor: 'key-cycle' },
      ),
    );
    const [released] = await eventually(async () => {
      const events = await tenantEvents('cycle', 'JobCapacityReleased', jobId);
      return events.length > 0 ? events : undefined;
    }, 'the release');
    const cancelled = (await store.readStream(`job-${jobId}`)).find(
      (e) => e.type === 'JobCancelled',
    ) as EventEnvelope;
    expect(released!.metadata.causationId).toBe(cancelled.id);

    // The freed cores admit a job the full tenant refused.
    const next = await submit('cycle', 8);
    expect(next.state).toBe('QUEUED');

    // The same fact delivered again (a new message id, as after the dedupe window).
    const redelivered = await jetstream(nc).publish(
      subjects.event('cycle', `job-${jobId}`, 'JobCancelled'),
      encodeEnvelope(cancelled),
      { msgID: `redelivery-${cancelled.id}` },
    );
    expect(redelivered.duplicate).toBe(false);
    await eventually(() => consumerCaughtUp(redelivered.seq), 'the consumer');
    expect(await tenantEvents('cycle', 'JobCapacityReleased', jobId)).toHaveLength(1);
    expect(await tenantEvents('cycle', 'JobCapacityReleased', next.jobId)).toHaveLength(0);
    expect((await refusalOf(submit('cycle', 1))).code).toBe(ErrorCodes.QUOTA_EXCEEDED);
  });

  it('finishes an admission a crash left in PENDING', async () => {
    const stalled = await toController(
      'submit',
      aCommandEnvelope(
        'SubmitJob',
        { spec: spec(1), idempotencyKey: null },
        { tenant: 'fits', actor: 'key-fits' },
      ),
    );
    expect(stalled.state).toBe('PENDING');
    const sink = new PostgresProjectionSink(pool, jobSummaryProjection, store);
    const total = Number(
      (await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events')).rows[0]!.n,
    );
    await waitUntilVisible(store, total);
    await catchUpProjection(store, sink);

    expect(await admission.get(JobAdmissionService).recoverStalled()).toBeGreaterThanOrEqual(1);
    expect(await typesOf(`job-${stalled.jobId}`)).toEqual([
      'JobSubmitted',
      'JobAdmitted',
      'JobQueued',
    ]);
    expect(await tenantEvents('fits', 'JobCapacityReserved', stalled.jobId)).toHaveLength(1);
  });

  it('refuses a submission from the system tenant and a wrong command type', async () => {
    const system = aCommandEnvelope(
      'SubmitJob',
      { spec: spec(1), idempotencyKey: null },
      { tenant: '_system', actor: 'admin' },
    );
    expect((await refusalOf(sendCommand(nc, subjects, 'admission', 'submit', system))).code).toBe(
      ErrorCodes.VALIDATION_FAILED,
    );
    const wrong = aCommandEnvelope(
      'CancelJob',
      { jobId: 'x' },
      { tenant: 'fits', actor: 'key-fits' },
    );
    expect((await refusalOf(sendCommand(nc, subjects, 'admission', 'submit', wrong))).code).toBe(
      ErrorCodes.VALIDATION_FAILED,
    );
  });
});

describe('usage reconciliation (B4)', () => {
  const projectedCores = async (tenant: string): Promise<number> =>
    Number(
      (
        await pool.query<{ cores: number | null }>(
          'SELECT sum(cores) AS cores FROM tenant_reservations WHERE tenant = $1 AND released_at IS NULL',
          [tenant],
        )
      ).rows[0]!.cores ?? 0,
    );
  const catchUp = async () => {
    const total = Number(
      (await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events')).rows[0]!.n,
    );
    await waitUntilVisible(store, total);
    await catchUpProjection(
      store,
      new PostgresProjectionSink(pool, tenantDirectoryProjection, store),
    );
  };
  const reconciler = () => admission.get(UsageReconcilerService);

  it('alerts on a projection corrupted past 10 %, heals it from the stream, and resolves the alert', async () => {
    await createTenant('drifty', { cores: 100 });
    await submit('drifty', 2);
    await submit('drifty', 3);
    await catchUp();
    expect(await projectedCores('drifty')).toBe(5);
    // A lagging projection is not drift: this reservation is on the stream, not yet projected.
    await submit('drifty', 1);
    expect((await reconciler().reconcile()).filter((r) => r.tenant === 'drifty')).toEqual([]);

    await catchUp();
    await pool.query("UPDATE tenant_reservations SET cores = cores * 10 WHERE tenant = 'drifty'");
    const found = (await reconciler().reconcile()).filter((r) => r.tenant === 'drifty');
    expect(found).toEqual([
      {
        tenant: 'drifty',
        drift: [{ dimension: 'cores', cached: 60, actual: 6, drift: 0.9 }],
        alerted: true,
      },
    ]);
    expect(await projectedCores('drifty')).toBe(6);
    const alert = await store.readStream('alert-quota-drift--drifty');
    expect(alert.map((e) => e.type)).toEqual(['AlertRaised', 'AlertResolved']);
    expect(alert[0]!.data).toMatchObject({ kind: 'quota-drift', tenant: 'drifty' });
    expect(String(alert[0]!.data['message'])).toMatch(/cores shows 60, the stream says 6/);
    // Healed: the next pass finds nothing, and raises nothing.
    expect((await reconciler().reconcile()).filter((r) => r.tenant === 'drifty')).toEqual([]);
    expect(await store.readStream('alert-quota-drift--drifty')).toHaveLength(2);
  });

  it('corrects a small drift without an alert', async () => {
    await createTenant('nudged', { cores: 100 });
    for (let i = 0; i < 20; i += 1) await submit('nudged', 1);
    await catchUp();
    // One of twenty reservations lost: 5 % off.
    await pool.query(
      "DELETE FROM tenant_reservations WHERE ctid IN (SELECT ctid FROM tenant_reservations WHERE tenant = 'nudged' LIMIT 1)",
    );
    const [found] = (await reconciler().reconcile()).filter((r) => r.tenant === 'nudged');
    expect(found!.alerted).toBe(false);
    expect(await projectedCores('nudged')).toBe(20);
    expect(await store.readStream('alert-quota-drift--nudged')).toEqual([]);
  });
});
