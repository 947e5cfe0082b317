import { type INestMicroservice } from '@nestjs/common';
import { jetstream, type JetStreamClient as NatsJetStreamClient } from '@nats-io/jetstream';
import { type Subscription } from '@nats-io/transport-node';
import { lastValueFrom } from 'rxjs';
import {
  ErrorCodes,
  GantryError,
  type CommandEnvelope,
  type EventEnvelope,
} from '@gantry/contracts';
import {
  DeadLetterSchema,
  JetStreamClient,
  applyOnce,
  deadLetterPayload,
  defineConsumer,
  encodeEnvelope,
  publishEvent,
  sendCommand,
  streamNames,
  type DeadLetter,
  type JetStreamContext,
} from '../src';
import { aCancelJobCommand, aJobCancelledEvent } from './builders';
import { startProbeService, type Probe } from './probe-service';
import {
  databaseFixture,
  eventually,
  natsFixture,
  type DatabaseFixture,
  type NatsFixture,
} from './support';

/**
 * The JetStream transport end to end: a Nest service on real nats-server and Postgres.
 * Event handlers apply their effect through applyOnce, so duplicates are visible as "handled
 * twice, applied once"; what a handler does per job id is set by each test.
 */
const CONSUMER = defineConsumer({
  durableName: 'probe',
  stream: 'events',
  filterSubjects: (subjects) => [subjects.eventsOfAggregate('job')],
  ackWaitMs: 10_000,
  maxDeliver: 3,
});

interface Delivery {
  readonly eventId: string;
  readonly jobId: string;
  readonly deliveryCount: number;
  readonly applied: boolean | 'threw';
}

type EventBehaviour = (event: EventEnvelope, ctx: JetStreamContext) => Promise<void>;

let nats: NatsFixture;
let database: DatabaseFixture;
let js: NatsJetStreamClient;
let app: INestMicroservice;
const deliveries: Delivery[] = [];
const commandsSeen: CommandEnvelope[] = [];
/** Per job id: what the handler does before applying its effect (throw, to simulate failures). */
const behaviours = new Map<string, EventBehaviour>();
let deadLetters: DeadLetter[] = [];
let deadLetterSub: Subscription;

const probe: Probe = {
  onJobCancelled: async (event, ctx) => {
    const jobId = String(event.data['jobId']);
    try {
      await behaviours.get(jobId)?.(event, ctx);
    } catch (err) {
      deliveries.push({
        eventId: event.id,
        jobId,
        deliveryCount: ctx.getDeliveryCount(),
        applied: 'threw',
      });
      throw err;
    }
    const outcome = await applyOnce(database.pool, CONSUMER.durableName, event.id, (tx) =>
      tx.query(
        `INSERT INTO cancellations (job_id, times) VALUES ($1, 1)
         ON CONFLICT (job_id) DO UPDATE SET times = cancellations.times + 1`,
        [jobId],
      ),
    );
    deliveries.push({
      eventId: event.id,
      jobId,
      deliveryCount: ctx.getDeliveryCount(),
      applied: outcome.applied,
    });
  },
  onCancel: async (command) => {
    commandsSeen.push(command);
    const jobId = String(command.data['jobId']);
    if (jobId === 'job-missing') {
      throw new GantryError(ErrorCodes.NOT_FOUND, `job ${jobId} does not exist`, {
        details: { jobId },
      });
    }
    return { cancelled: jobId };
  },
};

const timesApplied = async (jobId: string): Promise<number> => {
  const { rows } = await database.pool.query<{ times: number }>(
    'SELECT times FROM cancellations WHERE job_id = $1',
    [jobId],
  );
  return rows[0]?.times ?? 0;
};

const deliveriesOf = (jobId: string): Delivery[] => deliveries.filter((d) => d.jobId === jobId);

const publish = (event: EventEnvelope, msgID = event.id) =>
  js.publish(
    nats.subjects.event('acme', event.metadata.streamId, event.type),
    encodeEnvelope(event),
    { msgID },
  );

const publishRaw = (jobId: string, bytes: Uint8Array) =>
  js.publish(nats.subjects.event('acme', `job-${jobId}`, 'JobCancelled'), bytes);

const consumerInfo = () =>
  nats.jsm.consumers.info(streamNames(nats.subjects).events, CONSUMER.durableName);

beforeAll(async () => {
  nats = await natsFixture();
  database = await databaseFixture();
  await database.pool.query(
    'CREATE TABLE cancellations (job_id text PRIMARY KEY, times int NOT NULL)',
  );
  js = jetstream(nats.nc);
  deadLetterSub = nats.nc.subscribe(nats.subjects.deadLetter(CONSUMER.durableName), {
    callback: (err, msg) => {
      if (!err) deadLetters.push(DeadLetterSchema.parse(msg.json()));
    },
  });
  app = await startProbeService(probe, {
    nats: { url: nats.natsUrl, name: 'probe-service' },
    subjects: nats.subjects,
    service: 'controller',
    consumers: [CONSUMER],
    retry: { initialDelayMs: 100, multiplier: 2, maxDelayMs: 1_000 },
  });
});

afterAll(async () => {
  await app?.close();
  deadLetterSub?.unsubscribe();
  await nats?.teardown();
  await database?.teardown();
});

beforeEach(() => {
  deadLetters = [];
});

describe('consuming events', () => {
  it('applies a redelivered event once: the same event published twice changes Postgres once', async () => {
    const event = aJobCancelledEvent().build();
    const jobId = String(event.data['jobId']);

    // Different message ids get past JetStream's dedupe window, as a republish after it would.
    await publish(event, `${event.id}-first`);
    await publish(event, `${event.id}-second`);

    await eventually(
      () => deliveriesOf(jobId),
      (seen) => seen.length === 2,
      'both deliveries',
    );
    expect(deliveriesOf(jobId).map((d) => d.applied)).toEqual([true, false]);
    expect(await timesApplied(jobId)).toBe(1);
  });

  it('applies distinct events each once', async () => {
    const first = aJobCancelledEvent().build();
    const second = aJobCancelledEvent(String(first.data['jobId'])).build();
    const jobId = String(first.data['jobId']);

    await publish(first);
    await publish(second);

    await eventually(
      () => deliveriesOf(jobId),
      (seen) => seen.length === 2,
      'both events',
    );
    expect(await timesApplied(jobId)).toBe(2);
  });

  it('naks a retryable failure and succeeds on the redelivery', async () => {
    const event = aJobCancelledEvent().build();
    const jobId = String(event.data['jobId']);
    behaviours.set(jobId, async (_event, ctx) => {
      if (ctx.getDeliveryCount() === 1) {
        throw new GantryError(ErrorCodes.UNAVAILABLE, 'the database is restarting', {
          retryable: true,
        });
      }
    });

    await publish(event);

    await eventually(
      () => deliveriesOf(jobId),
      (seen) => seen.some((d) => d.applied === true),
      'the retry',
    );
    expect(deliveriesOf(jobId)).toEqual([
      expect.objectContaining({ deliveryCount: 1, applied: 'threw' }),
      expect.objectContaining({ deliveryCount: 2, applied: true }),
    ]);
    expect(await timesApplied(jobId)).toBe(1);
    expect(deadLetters).toEqual([]);
  });

  it('dead-letters a message that keeps failing once maxDeliver is reached', async () => {
    const event = aJobCancelledEvent().build();
    const jobId = String(event.data['jobId']);
    behaviours.set(jobId, async () => {
      throw new Error('connection reset');
    });

    await publish(event);

    const [deadLetter] = await eventually(
      () => deadLetters,
      (seen) => seen.length === 1,
      'the dead letter',
    );
    expect(deadLetter).toMatchObject({
      reason: 'max-deliver-exceeded',
      deliveryCount: CONSUMER.maxDeliver,
      error: { code: ErrorCodes.INTERNAL, message: 'connection reset', retryable: true },
    });
    expect(deliveriesOf(jobId).map((d) => d.deliveryCount)).toEqual([1, 2, 3]);
  });

  const poison: ReadonlyArray<{
    name: string;
    reason: DeadLetter['reason'];
    code: string;
    type?: string;
    send: (jobId: string) => Promise<unknown>;
  }> = [
    {
      name: 'bytes that are not JSON',
      reason: 'unparseable',
      code: ErrorCodes.VALIDATION_FAILED,
      send: (jobId) => publishRaw(jobId, new TextEncoder().encode('{"id": not json')),
    },
    {
      name: 'an envelope without metadata',
      reason: 'invalid-envelope',
      code: ErrorCodes.VALIDATION_FAILED,
      send: (jobId) => {
        const { metadata: _dropped, ...withoutMetadata } = aJobCancelledEvent(jobId).build();
        return publishRaw(jobId, encodeEnvelope(withoutMetadata));
      },
    },
    {
      name: 'data that does not match the schema',
      reason: 'invalid-envelope',
      code: ErrorCodes.VALIDATION_FAILED,
      send: (jobId) => {
        const event = aJobCancelledEvent(jobId).build();
        return publishRaw(jobId, encodeEnvelope({ ...event, data: { jobId } }));
      },
    },
    {
      name: 'a type nobody knows',
      reason: 'unknown-type',
      code: ErrorCodes.UNKNOWN_EVENT_TYPE,
      type: 'JobTeleported',
      send: (jobId) => publish(aJobCancelledEvent(jobId).ofType('JobTeleported').build()),
    },
    {
      name: 'a handler failure that retrying cannot fix',
      reason: 'non-retryable',
      code: ErrorCodes.ILLEGAL_TRANSITION,
      send: (jobId) => {
        behaviours.set(jobId, async () => {
          throw new GantryError(ErrorCodes.ILLEGAL_TRANSITION, 'job already finished');
        });
        return publish(aJobCancelledEvent(jobId).build());
      },
    },
  ];

  it.each(poison)(
    'dead-letters $name with the reason, never hands it to a handler twice, and goes on',
    async (c) => {
      const poisonJob = `job${deadLetterCounter++}p`;
      const nextJob = `job${deadLetterCounter++}n`;

      await c.send(poisonJob);
      const next = aJobCancelledEvent(nextJob).build();
      await publish(next);

      await eventually(
        () => deliveriesOf(nextJob),
        (seen) => seen.length === 1,
        'the next message',
      );
      const [deadLetter] = await eventually(
        () => deadLetters,
        (seen) => seen.length === 1,
        'the dead letter',
      );
      expect(deadLetter).toMatchObject({
        consumer: CONSUMER.durableName,
        reason: c.reason,
        error: { code: c.code },
        subject: nats.subjects.event('acme', `job-${poisonJob}`, c.type ?? 'JobCancelled'),
        deliveryCount: 1,
      });
      expect(deadLetter!.error.message.length).toBeGreaterThan(0);
      const original = await nats.jsm.streams.getMessage(streamNames(nats.subjects).events, {
        seq: deadLetter!.streamSequence,
      });
      expect(deadLetterPayload(deadLetter!)).toEqual(Buffer.from(original!.data));
      // Invalid messages never reach the handler; a failing handler saw it exactly once.
      expect(deliveriesOf(poisonJob).length).toBe(c.reason === 'non-retryable' ? 1 : 0);
      // Termed, not left to come back after ack-wait.
      await eventually(consumerInfo, (info) => info.num_ack_pending === 0, 'nothing pending');
    },
  );
});

let deadLetterCounter = 0;

describe('commands', () => {
  let client: JetStreamClient;

  beforeAll(() => {
    client = new JetStreamClient({
      nats: nats.nc,
      subjects: nats.subjects,
      service: 'controller',
      timeoutMs: 5_000,
    });
  });

  afterAll(async () => {
    await client.close();
  });

  it('answers a command through the Nest client', async () => {
    const result = await lastValueFrom(client.send('cancel', aCancelJobCommand('job-7')));
    expect(result).toEqual({ cancelled: 'job-7' });
  });

  it('answers a command sent with sendCommand', async () => {
    const result = await sendCommand(
      nats.nc,
      nats.subjects,
      'controller',
      'cancel',
      aCancelJobCommand('job-8'),
    );
    expect(result).toEqual({ cancelled: 'job-8' });
  });

  it('rethrows an error reply as the GantryError the handler threw', async () => {
    const failure = await lastValueFrom(
      client.send('cancel', aCancelJobCommand('job-missing')),
    ).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(GantryError);
    expect(failure).toMatchObject({
      code: ErrorCodes.NOT_FOUND,
      message: 'job job-missing does not exist',
      retryable: false,
      details: { jobId: 'job-missing' },
    });
  });

  it('times out when nobody answers', async () => {
    const silent = nats.nc.subscribe(nats.subjects.command('scheduler', 'place'));
    try {
      const failure = await sendCommand(
        nats.nc,
        nats.subjects,
        'scheduler',
        'place',
        aCancelJobCommand(),
        {
          timeoutMs: 300,
        },
      ).catch((err: unknown) => err);
      expect(failure).toMatchObject({ code: ErrorCodes.TIMEOUT, retryable: true });
    } finally {
      silent.unsubscribe();
    }
  });

  it('reports a service nobody runs as unavailable', async () => {
    const failure = await sendCommand(
      nats.nc,
      nats.subjects,
      'staging',
      'stage',
      aCancelJobCommand(),
      {
        timeoutMs: 2_000,
      },
    ).catch((err: unknown) => err);
    expect(failure).toMatchObject({ code: ErrorCodes.UNAVAILABLE, retryable: true });
  });

  it('refuses an invalid envelope on the wire with a clear error, before the handler', async () => {
    const before = commandsSeen.length;
    const { metadata: _dropped, ...withoutMetadata } = aCancelJobCommand('job-9');
    const reply = await nats.nc.request(
      nats.subjects.command('controller', 'cancel'),
      encodeEnvelope(withoutMetadata),
      {
        timeout: 5_000,
      },
    );
    expect(reply.json()).toEqual({
      ok: false,
      error: expect.objectContaining({
        code: ErrorCodes.VALIDATION_FAILED,
        retryable: false,
        message: expect.stringContaining('command envelope is invalid'),
      }),
    });
    expect(commandsSeen.length).toBe(before);
  });

  it('refuses command data that does not match its schema, before the handler', async () => {
    const before = commandsSeen.length;
    const command = { ...aCancelJobCommand(), data: { reason: 'no job id' } };
    const failure = await sendCommand(
      nats.nc,
      nats.subjects,
      'controller',
      'cancel',
      command,
    ).catch((err: unknown) => err);
    expect(failure).toMatchObject({
      code: ErrorCodes.VALIDATION_FAILED,
      message: expect.stringContaining('jobId'),
    });
    expect(commandsSeen.length).toBe(before);
  });

  it('refuses to send an invalid envelope at all', async () => {
    const before = commandsSeen.length;
    const command = { ...aCancelJobCommand(), id: 'not-a-uuid' };
    const failure = await lastValueFrom(client.send('cancel', command)).catch(
      (err: unknown) => err,
    );
    expect(failure).toMatchObject({
      code: ErrorCodes.VALIDATION_FAILED,
      message: expect.stringContaining('id'),
    });
    expect(commandsSeen.length).toBe(before);
  });

  it('publishes an event through the Nest client, and the consumer gets it', async () => {
    const event = aJobCancelledEvent().build();
    await lastValueFrom(client.emit('JobCancelled', event));
    await eventually(
      () => deliveriesOf(String(event.data['jobId'])),
      (seen) => seen.length === 1,
      'the event',
    );
  });

  it('refuses to emit an event that a consumer would dead-letter', async () => {
    const event = aJobCancelledEvent().ofType('JobTeleported').build();
    const failure = await lastValueFrom(client.emit('JobTeleported', event)).catch(
      (err: unknown) => err,
    );
    expect(failure).toMatchObject({ code: ErrorCodes.UNKNOWN_EVENT_TYPE });
  });
});

describe('publishEvent', () => {
  it('is what a publisher uses, and its message id dedupes a republish', async () => {
    const event = aJobCancelledEvent().build();
    const first = await publishEvent(js, nats.subjects, event);
    const again = await publishEvent(js, nats.subjects, event);
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(first.seq);
    await eventually(
      () => deliveriesOf(String(event.data['jobId'])),
      (seen) => seen.length === 1,
      'the event',
    );
  });
});
