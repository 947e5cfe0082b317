import { Pool } from 'pg';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import {
  createSubjects,
  ErrorCodes,
  eventRegistry,
  type EventEnvelope,
  type SubjectCatalogue,
} from '@gantry/contracts';
import {
  eventStoreMigrations,
  PostgresEventStore,
  runMigrations,
  waitUntilVisible,
  type ReadAllResult,
} from '@gantry/event-store';
import {
  connectNats,
  deleteStreams,
  encodeEnvelope,
  ensureStreams,
  publishEvent,
} from '@gantry/messaging';
import {
  createTestDatabase,
  eventually,
  resolveServerUrls,
  type TestDatabase,
  uniqueName,
} from '@gantry/testing';
import { aJob, type JobHistoryBuilder } from '../test/job-history.builder';
import {
  catchUpProjection,
  jobSummaryProjection,
  PostgresProjectionSink,
  ProjectionRunner,
  projectionMigrations,
  rebuildProjection,
} from './index';

/**
 * The job summary projection against real Postgres and a real nats-server: the live path
 * (JetStream -> sink), redeliveries, gaps the bus leaves, and a rebuild from the store that must
 * come out identical to what the live path built (ARCHITECTURE.md invariants 6 and 8).
 */
let db: TestDatabase;
let pool: Pool;
let store: PostgresEventStore;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let subjects: SubjectCatalogue;
let sink: PostgresProjectionSink;
const runners: ProjectionRunner[] = [];
const runnerErrors: unknown[] = [];

/** Each test gets its own database and its own subject namespace: no test sees another's events. */
beforeAll(async () => {
  nc = await connectNats(resolveServerUrls().natsUrl, 'projections-int');
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc?.close();
});

beforeEach(async () => {
  db = await createTestDatabase('projections');
  await runMigrations(db.url, [...eventStoreMigrations, ...projectionMigrations]);
  pool = new Pool({ connectionString: db.url, max: 8 });
  store = new PostgresEventStore(pool, eventRegistry);
  sink = new PostgresProjectionSink(pool, jobSummaryProjection, store);
  subjects = createSubjects(uniqueName('t'));
  await ensureStreams(jsm, subjects);
  runnerErrors.length = 0;
});

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
  await deleteStreams(jsm, subjects).catch(() => undefined);
  await pool?.end();
  await db?.drop();
});

/** Appends a job's whole history as the controller would, and returns the stored envelopes. */
const appendHistory = async (job: JobHistoryBuilder): Promise<readonly EventEnvelope[]> => {
  const { events } = await store.append(
    job.streamId,
    'no_stream',
    job.domainEvents().map((event, i) => ({
      type: event.type,
      data: event.data,
      metadata: {
        tenant: job.tenantId,
        causationId: null,
        correlationId: `corr-${job.jobId}`,
        occurredAt: new Date(Date.parse('2026-01-01T00:00:00Z') + i * 1_000),
      },
    })),
  );
  return events;
};

/** A live runner on its own durable consumer, so tests never share a consumer position. */
const startRunner = async (): Promise<ProjectionRunner> => {
  const runner = new ProjectionRunner({
    js,
    jsm,
    subjects,
    sink,
    consumerName: uniqueName('projection'),
    batchSize: 50,
    retryDelayMs: 100,
    onError: (err) => runnerErrors.push(err),
  });
  await runner.start();
  runners.push(runner);
  return runner;
};

const jobRow = async (
  tenant: string,
  jobId: string,
): Promise<Record<string, unknown> | undefined> =>
  (await pool.query('SELECT * FROM job_summary WHERE tenant = $1 AND job_id = $2', [tenant, jobId]))
    .rows[0];

const streamVersion = async (streamId: string): Promise<number> =>
  (
    await pool.query<{ version: number }>(
      'SELECT version FROM projection_stream_versions WHERE projection = $1 AND stream_id = $2',
      [jobSummaryProjection.name, streamId],
    )
  ).rows[0]?.version ?? 0;

const visibleInStore = (count: number): Promise<ReadAllResult> => waitUntilVisible(store, count);

/** Every row, in key order, exactly as Postgres returns it. */
const snapshot = async (): Promise<Record<string, unknown>[]> =>
  (await pool.query('SELECT * FROM job_summary ORDER BY tenant, job_id')).rows;

describe('a redelivered event', () => {
  it('changes the projection once, even when it arrives again after later events', async () => {
    const job = aJob()
      .forTenant('acme')
      .submitted({ name: 'etl' })
      .admitted()
      .cancelled('superseded');
    const [submitted, admitted, cancelled] = await appendHistory(job);
    await startRunner();

    for (const event of [submitted!, admitted!, cancelled!])
      await publishEvent(js, subjects, event);
    await eventually(
      async () => (await streamVersion(job.streamId)) === 3,
      'the live path to apply v3',
    );
    const before = await jobRow('acme', job.jobId);

    // A publisher that republished after the dedupe window: a new message id, the same event.
    // Were it applied, JobSubmitted would put the job back to PENDING and JobAdmitted to ADMITTED.
    for (const stale of [submitted!, admitted!]) {
      await js.publish(subjects.event('acme', job.streamId, stale.type), encodeEnvelope(stale), {
        msgID: `${stale.id}-again`,
      });
    }
    const sentinel = aJob().forTenant('acme').submitted();
    await Promise.all((await appendHistory(sentinel)).map((e) => publishEvent(js, subjects, e)));
    await eventually(
      async () => (await streamVersion(sentinel.streamId)) === 1,
      'the messages behind the redeliveries',
    );

    expect(before).toMatchObject({ state: 'CANCELLED', reason: 'superseded', last_version: 3 });
    expect(await jobRow('acme', job.jobId)).toEqual(before);
    expect((await sink.readCheckpoint())?.eventsApplied).toBe(4);
  });

  it('is skipped by the sink when the same batch is applied twice, for example after a lost ack', async () => {
    const job = aJob()
      .forTenant('acme')
      .submitted()
      .rejected('QUOTA_EXCEEDED', 'gpu quota exhausted');
    const events = await appendHistory(job);

    const first = await sink.apply(events, { busSequence: 10 });
    const rowAfterFirst = await jobRow('acme', job.jobId);
    const second = await sink.apply(events, { busSequence: 10 });

    expect(first).toMatchObject({ applied: 2, duplicates: 0 });
    expect(second).toMatchObject({ applied: 0, duplicates: 2 });
    expect(rowAfterFirst).toMatchObject({
      state: 'REJECTED',
      reason_code: 'QUOTA_EXCEEDED',
      reason: 'gpu quota exhausted',
    });
    expect(await jobRow('acme', job.jobId)).toEqual(rowAfterFirst);
  });

  it('cannot rewind a row even if the per-stream record is lost: the row keeps its own version', async () => {
    const job = aJob().forTenant('acme').submitted().admitted().cancelled();
    const events = await appendHistory(job);
    await sink.apply(events);
    await pool.query('DELETE FROM projection_stream_versions WHERE stream_id = $1', [job.streamId]);

    await sink.apply([events[1]!]);

    expect(await jobRow('acme', job.jobId)).toMatchObject({ state: 'CANCELLED', last_version: 3 });
  });
});

describe('a gap in a stream', () => {
  it('is filled from the store when the bus lost events before the one that arrived', async () => {
    // Only v3 reaches the bus: without the fill there would be no row at all (the update of v3
    // has nothing to change), and the spec fields only v1 carries would be missing.
    const job = aJob()
      .forTenant('globex')
      .submitted({ name: 'render', nodes: 8, pool: 'gpu' })
      .admitted()
      .cancelled('late');
    const events = await appendHistory(job);
    await startRunner();

    await publishEvent(js, subjects, events[2]!);
    await eventually(async () => (await streamVersion(job.streamId)) === 3, 'the gap to be filled');

    expect(await jobRow('globex', job.jobId)).toMatchObject({
      state: 'CANCELLED',
      name: 'render',
      nodes: 8,
      pool: 'gpu',
      reason: 'late',
      last_version: 3,
    });
    expect((await sink.readCheckpoint())?.eventsApplied).toBe(3);
  });

  it('is reported by the sink, which reads exactly the missing versions', async () => {
    const job = aJob().submitted().admitted().cancelled();
    const [v1, , ,] = await appendHistory(job);
    const v3 = (await store.readStream(job.streamId, { fromVersion: 3 }))[0]!;

    const result = await sink.apply([v1!, v3]);

    expect(result).toEqual({ applied: 3, duplicates: 0, filled: 1, ignored: 0 });
  });

  it('fails the whole batch, retryably, when the store does not have the missing versions', async () => {
    const job = aJob().submitted();
    const [v1] = await appendHistory(job);
    const phantom: EventEnvelope = {
      ...v1!,
      id: crypto.randomUUID(),
      type: 'JobAdmitted',
      metadata: { ...v1!.metadata, streamVersion: 3 },
    };
    const other = aJob().submitted();
    const [otherV1] = await appendHistory(other);

    await expect(sink.apply([otherV1!, phantom])).rejects.toMatchObject({
      code: ErrorCodes.UNAVAILABLE,
      retryable: true,
    });

    // Nothing of the batch was committed, not even the event before the gap.
    expect(await jobRow('acme', other.jobId)).toBeUndefined();
    expect(await sink.readCheckpoint()).toBeNull();
  });
});

describe('a rebuild from the store', () => {
  /** A few hundred events over many jobs and tenants, in every shape the projection knows. */
  const mixedJobs = (count: number): JobHistoryBuilder[] =>
    Array.from({ length: count }, (_, i) => {
      const job = aJob(`job-${i}`)
        .forTenant(['acme', 'globex', 'initech'][i % 3]!)
        .submitted({
          nodes: 1 + (i % 4),
          priority: i % 200,
          ...(i % 5 === 0 ? {} : { name: `job ${i}` }),
        });
      switch (i % 5) {
        case 0:
          return job;
        case 1:
          return job.admitted();
        case 2:
          return job.rejected('QUOTA_EXCEEDED', `over quota ${i}`);
        case 3:
          return job.admitted().cancelled(`cancelled ${i}`);
        default:
          return job.cancelled('');
      }
    });

  it('equals the projection built live, row by row', async () => {
    const jobs = mixedJobs(150);
    // Interleave the appends across streams, one event at a time, so the store's commit order
    // mixes streams the way a busy controller would.
    const versions = new Map<string, number>();
    for (let round = 0; round < 3; round += 1) {
      for (const job of jobs) {
        const event = job.domainEvents()[round];
        if (!event) continue;
        const expected = versions.get(job.streamId) ?? 0;
        await store.append(job.streamId, expected === 0 ? 'no_stream' : expected, [
          {
            type: event.type,
            data: event.data,
            metadata: { tenant: job.tenantId, causationId: null, correlationId: job.jobId },
          },
        ]);
        versions.set(job.streamId, expected + 1);
      }
    }
    const total = [...versions.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(300);

    // Publish in store order, as the publisher does, with every tenth event published twice
    // under a fresh message id to exercise redelivery on the way.
    const stored = await visibleInStore(total);
    const runner = await startRunner();
    for (const [i, event] of stored.events.entries()) {
      await publishEvent(js, subjects, event);
      if (i % 10 === 0) {
        await js.publish(
          subjects.event(event.metadata.tenant, event.metadata.streamId, event.type),
          encodeEnvelope(event),
          {
            msgID: `${event.id}-again`,
          },
        );
      }
    }
    await eventually(
      async () => (await sink.readCheckpoint())?.eventsApplied === total,
      'the live path to apply every event',
      30_000,
      () => `runner errors: ${String(runnerErrors)}`,
    );
    await runner.stop();
    const live = await snapshot();

    const rebuilt = await rebuildProjection(store, sink, { batchSize: 37 });
    const replayed = await snapshot();

    expect(live).toHaveLength(jobs.length);
    expect(rebuilt).toMatchObject({
      eventsRead: total,
      eventsApplied: total,
      checkpoint: stored.checkpoint,
    });
    expect(replayed).toEqual(live);
    // And both are right, not merely equal: every job ends in the state its history says.
    const expectedStates = ['PENDING', 'ADMITTED', 'REJECTED', 'CANCELLED', 'CANCELLED'];
    for (const row of replayed) {
      const i = Number(String(row.job_id).slice('job-'.length));
      expect({ job: row.job_id, state: row.state }).toEqual({
        job: row.job_id,
        state: expectedStates[i % 5],
      });
    }
  });

  it('rebuilds the steps of jobs with steps (D5), fan-outs included, to the same rows', async () => {
    const T = (s: number): string =>
      new Date(Date.parse('2026-01-01T00:00:00Z') + s * 1_000).toISOString();
    const spec = { command: ['true'], resources: { cpu: 1, memoryMiB: 64 } };
    const withSteps = 'steps-1';
    const fanned = 'fanout-1';
    const histories: [string, { type: string; data: Record<string, unknown> }[]][] = [
      [
        withSteps,
        [
          {
            type: 'JobSubmitted',
            data: {
              jobId: withSteps,
              idempotencyKey: null,
              spec: { ...spec, steps: [{ name: 'a' }, { name: 'b', dependsOn: ['a'] }] },
            },
          },
          { type: 'JobAdmitted', data: { jobId: withSteps, admittedAt: T(1) } },
          {
            type: 'JobBlocked',
            data: { jobId: withSteps, waitingOn: ['a', 'b'], blockedAt: T(1) },
          },
          {
            type: 'StepSubmitted',
            data: { jobId: withSteps, step: 'a', run: 1, childJobId: 'c-a', submittedAt: T(2) },
          },
          {
            type: 'StepFailed',
            data: {
              jobId: withSteps,
              step: 'a',
              run: 1,
              childJobId: 'c-a',
              childState: 'FAILED',
              reason: 'exit 3',
              failedAt: T(3),
            },
          },
          {
            type: 'StepSkipped',
            data: { jobId: withSteps, step: 'b', run: 1, reason: 'a failed', skippedAt: T(3) },
          },
          {
            type: 'StepsFailed',
            data: {
              jobId: withSteps,
              run: 1,
              reason: 'a failed',
              failedSteps: ['a'],
              skippedSteps: ['b'],
              failedAt: T(3),
            },
          },
          {
            type: 'StepsRetried',
            data: { jobId: withSteps, run: 2, steps: ['a', 'b'], retriedBy: 'k', retriedAt: T(4) },
          },
          {
            type: 'StepSubmitted',
            data: { jobId: withSteps, step: 'a', run: 2, childJobId: 'c-a2', submittedAt: T(5) },
          },
        ],
      ],
      [
        fanned,
        [
          { type: 'JobSubmitted', data: { jobId: fanned, idempotencyKey: null, spec } },
          { type: 'JobAdmitted', data: { jobId: fanned, admittedAt: T(1) } },
          { type: 'JobQueued', data: { jobId: fanned, queuedAt: T(1) } },
          {
            type: 'JobLeased',
            data: {
              jobId: fanned,
              attempt: 1,
              leaseEpoch: 1,
              nodes: [{ nodeId: 'n1', rank: 0 }],
              leaseExpiresAt: T(60),
              leasedAt: T(2),
            },
          },
          {
            type: 'JobStarted',
            data: { jobId: fanned, attempt: 1, leaseEpoch: 1, startedAt: T(2) },
          },
          {
            type: 'JobFannedOut',
            data: {
              jobId: fanned,
              attempt: 1,
              leaseEpoch: 1,
              exitCodes: [0],
              children: [{ name: 'part', spec }],
              fannedOutAt: T(3),
            },
          },
        ],
      ],
    ];
    for (const [jobId, events] of histories) {
      await store.append(
        `job-${jobId}`,
        'no_stream',
        events.map((event) => ({
          ...event,
          data: eventRegistry.validateData(event.type, event.data) as Record<string, unknown>,
          metadata: { tenant: 'acme', causationId: null, correlationId: `corr-${jobId}` },
        })),
      );
    }
    await catchUpProjection(store, sink);
    const rows = async () => ({
      steps: (
        await pool.query(
          'SELECT * FROM job_steps WHERE job_id = ANY($1) ORDER BY job_id, position',
          [[withSteps, fanned]],
        )
      ).rows,
      jobs: (
        await pool.query('SELECT * FROM job_summary WHERE job_id = ANY($1) ORDER BY job_id', [
          [withSteps, fanned],
        ])
      ).rows,
    });
    const live = await rows();
    expect(live.steps.map((r) => [r.job_id, r.step, r.state, r.run, r.child_job_id])).toEqual([
      [fanned, 'part', 'WAITING', 1, null],
      [withSteps, 'a', 'SUBMITTED', 2, 'c-a2'],
      [withSteps, 'b', 'WAITING', 2, null],
    ]);
    expect(live.jobs.map((r) => [r.job_id, r.state, r.run])).toEqual([
      [fanned, 'BLOCKED', 1],
      [withSteps, 'BLOCKED', 2],
    ]);

    await rebuildProjection(store, sink);
    expect(await rows()).toEqual(live);
  });

  it('catches up from its store checkpoint without reapplying what it already has', async () => {
    const early = aJob().submitted();
    await appendHistory(early);
    await visibleInStore(1);
    await rebuildProjection(store, sink);
    const late = aJob().submitted().admitted();
    await appendHistory(late);
    await visibleInStore(3);

    const caughtUp = await catchUpProjection(store, sink);

    expect(caughtUp).toMatchObject({ eventsRead: 2, eventsApplied: 2 });
    expect(await jobRow('acme', late.jobId)).toMatchObject({ state: 'ADMITTED' });
  });
});
