import { randomUUID } from 'node:crypto';
import { type INestMicroservice } from '@nestjs/common';

import { type NatsConnection } from '@nats-io/transport-node';
import { type Pool } from 'pg';
import {
  ErrorCodes,
  type CommandEnvelope,
  type SubjectCatalogue,
  type EventEnvelope,
  type JobEvent,
} from '@gantry/contracts';
import { evolve, initialJobState, isLegalTransition, type JobState } from '@gantry/domain';
import { eventStoreMigrations, type PostgresEventStore } from '@gantry/event-store';
import { messagingMigrations, sendCommand } from '@gantry/messaging';
import { createServiceTestBed, type ServiceTestBed } from '@gantry/service-testing';

import { startControllerApp } from '../src/app';
import { type JobReply } from '../src/job-commands';
import { aCommand, aSpec, refusalOf } from './support';

/** The controller in-process on real Postgres and NATS, driven over its command subjects. */
let bed: ServiceTestBed;
let subjects: SubjectCatalogue;
let pool: Pool;
let store: PostgresEventStore;
let nc: NatsConnection;
let app: INestMicroservice;

beforeAll(async () => {
  bed = await createServiceTestBed({
    name: 'gantry_ctl',
    migrations: [...eventStoreMigrations, ...messagingMigrations],
    poolSize: 20,
  });
  ({ subjects, pool, store, nc } = bed);
  app = await startControllerApp({
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

const send = (verb: string, command: CommandEnvelope): Promise<JobReply> =>
  sendCommand<JobReply>(nc, subjects, 'controller', verb, command, { timeoutMs: 15_000 });

const submit = (metadata: Partial<CommandEnvelope['metadata']> = {}, key: string | null = null) =>
  send('submit', aCommand('SubmitJob', { spec: aSpec(), idempotencyKey: key }, metadata));

const history = (jobId: string): Promise<EventEnvelope[]> => store.readStream(`job-${jobId}`);

/** Replays a stored history, checking each state change is one the state machine allows. */
const replay = (tenant: string, jobId: string, events: readonly EventEnvelope[]): JobState =>
  events.reduce<JobState>((state, envelope) => {
    const next = evolve(state, { type: envelope.type, data: envelope.data } as JobEvent);
    if (next.state !== state.state && next.state !== 'NONE')
      expect(isLegalTransition(state.state, next.state)).toBe(true);
    return next;
  }, initialJobState({ tenant, jobId }));

describe('controller commands', () => {
  it('submits a job: PENDING, and JobSubmitted stored with the command as its cause', async () => {
    const command = aCommand('SubmitJob', { spec: aSpec(), idempotencyKey: null });
    const reply = await send('submit', command);
    expect(reply).toEqual({ jobId: expect.any(String), state: 'PENDING', version: 1 });
    const [submitted, ...rest] = await history(reply.jobId);
    expect(rest).toEqual([]);
    expect(submitted).toMatchObject({
      type: 'JobSubmitted',
      data: { jobId: reply.jobId, idempotencyKey: null },
      metadata: {
        tenant: 'acme',
        streamId: `job-${reply.jobId}`,
        streamVersion: 1,
        causationId: command.id,
        correlationId: command.metadata.correlationId,
        actor: 'key-acme-1',
      },
    });
  });

  it('returns the same job for the same Idempotency-Key, and stores one submission', async () => {
    const key = `key-${randomUUID()}`;
    const first = await submit({}, key);
    // Sequential and concurrent repeats alike.
    const repeats = await Promise.all(Array.from({ length: 5 }, () => submit({}, key)));
    for (const reply of [...repeats, await submit({}, key)]) expect(reply).toEqual(first);
    const events = await history(first.jobId);
    expect(events.map((e) => e.type)).toEqual(['JobSubmitted']);
    // Another tenant's identical key is another job.
    const other = await submit({ tenant: 'globex' }, key);
    expect(other.jobId).not.toBe(first.jobId);
  });

  it('keeps one legal, gapless history when 20 commands race on one job', async () => {
    const { jobId } = await submit();
    const racers = Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0
        ? send('admit', aCommand('AdmitJob', { jobId }))
        : send('cancel', aCommand('CancelJob', { jobId, reason: `racer ${i}` })),
    );
    const outcomes = await Promise.allSettled(racers);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        // A loser is refused on the state it re-read, or (rarely) told to retry.
        expect([ErrorCodes.ILLEGAL_TRANSITION, ErrorCodes.STREAM_VERSION_CONFLICT]).toContain(
          (outcome.reason as { code: string }).code,
        );
      }
    }
    const events = await history(jobId);
    expect(events.map((e) => e.metadata.streamVersion)).toEqual(events.map((_, i) => i + 1));
    const final = replay('acme', jobId, events);
    expect(final.state).toBe('CANCELLED');
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === 'JobCancelled')).toHaveLength(1);
    expect(types.filter((t) => t === 'JobAdmitted').length).toBeLessThanOrEqual(1);
    // Each success answered with the version its own events reached.
    const successes = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    expect(successes.length).toBe(events.length - 1);
    expect(new Set(successes.map((s) => s.version)).size).toBe(successes.length);
  });

  it('refuses an illegal transition and appends nothing', async () => {
    const { jobId } = await submit();
    const refusal = await refusalOf(send('queue', aCommand('QueueJob', { jobId })));
    expect(refusal.code).toBe(ErrorCodes.ILLEGAL_TRANSITION);
    expect((await history(jobId)).map((e) => e.type)).toEqual(['JobSubmitted']);
  });

  it('refuses a report under a stale lease epoch and appends nothing', async () => {
    const { jobId } = await submit();
    await send('admit', aCommand('AdmitJob', { jobId }));
    await send('queue', aCommand('QueueJob', { jobId }));
    const leased = await send(
      'lease',
      aCommand('LeaseJob', {
        jobId,
        leaseEpoch: 2,
        nodes: [{ nodeId: 'node-a', rank: 0 }],
        leaseExpiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    );
    expect(leased).toEqual({ jobId, state: 'LEASED', version: 4 });
    const refusal = await refusalOf(
      send('start-attempt', aCommand('StartAttempt', { jobId, leaseEpoch: 1 })),
    );
    expect(refusal.code).toBe(ErrorCodes.LEASE_STALE_EPOCH);
    expect(await history(jobId)).toHaveLength(4);
    // The live epoch is accepted; the answer names the checkpoint to resume from (none yet, D7).
    expect(await send('start-attempt', aCommand('StartAttempt', { jobId, leaseEpoch: 2 }))).toEqual(
      { jobId, state: 'RUNNING', version: 5, checkpoint: null },
    );
  });

  it("answers NOT_FOUND to a tenant commanding another tenant's job, as for a missing one", async () => {
    const { jobId } = await submit({ tenant: 'acme' });
    const foreign = await refusalOf(
      send('cancel', aCommand('CancelJob', { jobId }, { tenant: 'globex' })),
    );
    const missing = await refusalOf(
      send('cancel', aCommand('CancelJob', { jobId: randomUUID() }, { tenant: 'globex' })),
    );
    expect(foreign.code).toBe(ErrorCodes.NOT_FOUND);
    expect(missing.code).toBe(ErrorCodes.NOT_FOUND);
    expect((await history(jobId)).map((e) => e.type)).toEqual(['JobSubmitted']);
  });

  it.each([
    ['data that breaks the schema', 'hold', aCommand('HoldJob', { jobId: 'j1' })],
    ['a command sent to the wrong verb', 'admit', aCommand('CancelJob', { jobId: 'j1' })],
  ])('refuses %s with VALIDATION_FAILED', async (_case, verb, command) => {
    const refusal = await refusalOf(send(verb, command));
    expect(refusal).toEqual({ code: ErrorCodes.VALIDATION_FAILED, retryable: false });
  });

  it('refuses an unknown command type, naming it as such (the transport decodes it)', async () => {
    const refusal = await refusalOf(send('admit', aCommand('AdmitJobs', { jobId: 'j1' })));
    expect(refusal).toEqual({ code: ErrorCodes.UNKNOWN_EVENT_TYPE, retryable: false });
  });

  it('refuses an envelope that is not one, before writing anything', async () => {
    const before = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
    const reply = await nc.request(
      subjects.command('controller', 'submit'),
      new TextEncoder().encode(JSON.stringify({ type: 'SubmitJob', data: {} })),
      { timeout: 5_000 },
    );
    expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({
      ok: false,
      error: { code: ErrorCodes.VALIDATION_FAILED },
    });
    const after = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });
});
