import { randomUUID } from 'node:crypto';
import { createSubjects, type SubjectCatalogue } from '@gantry/contracts';
import { connectNats, deleteStreams, ensureStreams, streamNames } from '@gantry/messaging';
import { resolveServerUrls, uniqueName } from '@gantry/testing';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { EventPublisher, type EventPublisherOptions } from '../src';
import { createStoreFixture, events, eventually, readBus, type StoreFixture } from './support';

/**
 * The publisher against real Postgres and a real nats-server. Each case has its own database and
 * its own subject namespace, so what reaches the bus is exactly what that case appended.
 */
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
beforeAll(async () => {
  nc = await connectNats(resolveServerUrls().natsUrl, 'event-publisher-int');
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc.drain();
});

let fx: StoreFixture;
let subjects: SubjectCatalogue;
const publishers: EventPublisher[] = [];
beforeEach(async () => {
  fx = await createStoreFixture(5);
  subjects = createSubjects(uniqueName('t'));
  await ensureStreams(jsm, subjects);
});
afterEach(async () => {
  await Promise.all(publishers.splice(0).map((p) => p.stop()));
  await deleteStreams(jsm, subjects);
  await fx.close();
});

const startPublisher = (overrides: Partial<EventPublisherOptions> = {}): EventPublisher => {
  const publisher = new EventPublisher({
    databaseUrl: fx.db.url,
    store: fx.store,
    js,
    subjects,
    pollIntervalMs: 50,
    leadershipRetryMs: 100,
    ...overrides,
  });
  publishers.push(publisher);
  publisher.start();
  return publisher;
};

const onBus = async () => (await jsm.streams.info(streamNames(subjects).events)).state.messages;
const waitForBus = (count: number) =>
  eventually(async () => (await onBus()) >= count, `${count} messages on the bus`);

it('publishes an event whose transaction took a lower position but committed after a higher one', async () => {
  const publisher = startPublisher();
  const lateStream = `job-${randomUUID()}`;
  const earlyStream = `job-${randomUUID()}`;

  const txA = await fx.pool.connect();
  try {
    await txA.query('BEGIN');
    const a = await fx.store.append(lateStream, 'no_stream', events(1), { tx: txA }); // lower position, held open
    const b = await fx.store.append(earlyStream, 'no_stream', events(1)); // higher position, committed
    expect(BigInt(a.events[0]!.metadata.globalPosition!)).toBeLessThan(
      BigInt(b.events[0]!.metadata.globalPosition!),
    );

    // Let the publisher go round several times with A open. A position-ordered reader would
    // publish B here and move its checkpoint past A's position for good.
    const readsBefore = publisher.status().reads;
    await eventually(async () => publisher.status().reads >= readsBefore + 5, 'publisher cycles');
    expect(await onBus()).toBe(0);

    await txA.query('COMMIT');
  } finally {
    txA.release();
  }

  await waitForBus(2);
  const received = await readBus(js, streamNames(subjects).events, 2);
  // A's transaction is the older one, so it is first in the store's order and on the bus.
  expect(received.map((e) => e.metadata.streamId)).toEqual([lateStream, earlyStream]);
  expect(publisher.status().published).toBe(2);
});

it('publishes every event once, per stream in version order, across batches', async () => {
  const publisher = startPublisher({ batchSize: 7 });
  const streams = Array.from({ length: 5 }, () => `job-${randomUUID()}`);
  for (let round = 0; round < 4; round += 1) {
    await Promise.all(
      streams.map((s) => fx.store.append(s, round === 0 ? 'no_stream' : round * 3, events(3))),
    );
  }
  await waitForBus(60);
  await eventually(async () => publisher.status().published === 60, 'checkpoint at 60');

  const received = await readBus(js, streamNames(subjects).events, 60);
  expect(new Set(received.map((e) => e.id)).size).toBe(60);
  for (const stream of streams) {
    const versions = received
      .filter((e) => e.metadata.streamId === stream)
      .map((e) => e.metadata.streamVersion);
    expect(versions).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  }
  const { rows } = await fx.pool.query(
    'SELECT transaction_id::text, position::text FROM publisher_checkpoints',
  );
  expect(rows).toEqual([
    {
      transaction_id: publisher.status().checkpoint!.transactionId,
      position: publisher.status().checkpoint!.position,
    },
  ]);
});

it('lets one of two replicas publish; the other takes over when the leader stops', async () => {
  const first = startPublisher();
  await eventually(async () => first.status().isLeader, 'a leader');
  const second = startPublisher();

  const stream = `job-${randomUUID()}`;
  await fx.store.append(stream, 'no_stream', events(10));
  await waitForBus(10);
  await eventually(async () => first.status().published === 10, 'the leader to checkpoint');
  expect(second.status()).toMatchObject({ isLeader: false, published: 0 });

  await first.stop();
  await eventually(async () => second.status().isLeader, 'the follower to take over');
  await fx.store.append(stream, 10, events(5));
  await waitForBus(15);
  // The new leader starts from the old one's checkpoint: it publishes only what is new.
  await eventually(async () => second.status().published === 5, 'the new leader to checkpoint');

  const received = await readBus(js, streamNames(subjects).events, 15);
  expect(received.map((e) => e.metadata.streamVersion)).toEqual(
    Array.from({ length: 15 }, (_, i) => i + 1),
  );
});

it('gives up leadership when its session dies, and exactly one replica carries on without loss', async () => {
  const first = startPublisher();
  await eventually(async () => first.status().isLeader, 'a leader');
  const second = startPublisher();
  const stream = `job-${randomUUID()}`;
  await fx.store.append(stream, 'no_stream', events(10));
  await waitForBus(10);

  // Kill the leader's database session, as a network cut would: its lock goes with it.
  const killed = await fx.pool.query(
    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
    [first.applicationName],
  );
  expect(killed.rowCount).toBe(1);
  await fx.store.append(stream, 10, events(5));
  await waitForBus(15);

  const leaders = [first, second].filter((p) => p.status().isLeader);
  expect(leaders).toHaveLength(1);
  const received = await readBus(js, streamNames(subjects).events, 15);
  expect(received.map((e) => e.metadata.streamVersion)).toEqual(
    Array.from({ length: 15 }, (_, i) => i + 1),
  );
  await eventually(
    async () => first.status().published + second.status().published >= 15,
    'the checkpoint to cover every event',
  );
});

it('keeps retrying while the bus refuses, then publishes without skipping', async () => {
  // Publishing to a namespace with no stream fails like a missing or unavailable JetStream.
  await deleteStreams(jsm, subjects);
  const publisher = startPublisher({ backoff: { initialMs: 20, maxMs: 100, factor: 2 } });
  await fx.store.append(`job-${randomUUID()}`, 'no_stream', events(3));
  await eventually(async () => publisher.status().failures >= 2, 'failed attempts');
  expect(publisher.status().published).toBe(0);

  await ensureStreams(jsm, subjects);
  await waitForBus(3);
  await eventually(async () => publisher.status().published === 3, 'the checkpoint to move');
});
