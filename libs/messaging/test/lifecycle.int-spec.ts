import { jetstream } from '@nats-io/jetstream';
import { type EventEnvelope } from '@gantry/contracts';
import {
  defineConsumer,
  publishEvent,
  streamNames,
  type ConsumerDeclaration,
  type JetStreamContext,
} from '../src';
import { aJobCancelledEvent } from './builders';
import { startProbeService } from './probe-service';
import { eventually, natsFixture, type NatsFixture } from './support';

/** Start-up and shutdown, and a handler that outlives its ack wait. */
let nats: NatsFixture;

beforeAll(async () => {
  nats = await natsFixture();
});

afterAll(async () => {
  await nats?.teardown();
});

const consumerInfo = (declaration: ConsumerDeclaration) =>
  nats.jsm.consumers.info(streamNames(nats.subjects).events, declaration.durableName);

const startWith = (
  declaration: ConsumerDeclaration,
  onJobCancelled: (event: EventEnvelope, ctx: JetStreamContext) => Promise<unknown>,
) =>
  startProbeService(
    { onJobCancelled, onCancel: async () => null },
    {
      nats: { url: nats.natsUrl, name: declaration.durableName },
      subjects: nats.subjects,
      service: 'controller',
      consumers: [declaration],
    },
  );

it('closes gracefully: the message in hand finishes and is acked before close resolves', async () => {
  const declaration = defineConsumer({
    durableName: 'closing',
    stream: 'events',
    filterSubjects: (s) => [s.eventsOfAggregate('job')],
    ackWaitMs: 30_000,
    maxDeliver: 3,
  });
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let started = false;
  const app = await startWith(declaration, async () => {
    started = true;
    await gate;
    order.push('handler finished');
  });
  const ack = await publishEvent(jetstream(nats.nc), nats.subjects, aJobCancelledEvent().build());
  await eventually(
    () => started,
    (s) => s,
    'the handler to start',
  );

  const closed = app.close().then(() => order.push('close resolved'));
  release();
  await closed;

  expect(order).toEqual(['handler finished', 'close resolved']);
  const info = await consumerInfo(declaration);
  expect(info.ack_floor.stream_seq).toBe(ack.seq);
  expect(info.num_ack_pending).toBe(0);
});

it("does not hand a long handler's message to another instance while it keeps saying it is working", async () => {
  const event = aJobCancelledEvent().build();
  const declaration = defineConsumer({
    durableName: 'patient',
    stream: 'events',
    // Only this test's event: the stream also holds the previous test's.
    filterSubjects: (s) => [s.eventsOfStream('acme', event.metadata.streamId)],
    ackWaitMs: 1_000,
    maxDeliver: 5,
  });
  const deliveries: number[] = [];
  const handler = async (_event: EventEnvelope, ctx: JetStreamContext) => {
    deliveries.push(ctx.getDeliveryCount());
    // Runs for 2.5 ack waits, saying so every quarter of one.
    for (let i = 0; i < 10; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      ctx.working();
    }
  };
  // Two instances of one service: the idle one would get the message the moment its ack wait lapsed.
  const instances = [await startWith(declaration, handler), await startWith(declaration, handler)];
  try {
    await publishEvent(jetstream(nats.nc), nats.subjects, event);
    const info = await eventually(
      () => consumerInfo(declaration),
      (i) => i.ack_floor.stream_seq > 0 && i.num_ack_pending === 0,
      'the ack',
    );
    // One delivery, ever: a redelivery would have bumped the consumer's delivery sequence.
    expect(info.delivered.consumer_seq).toBe(1);
    expect(deliveries).toEqual([1]);
  } finally {
    await Promise.all(instances.map((app) => app.close()));
  }
});
