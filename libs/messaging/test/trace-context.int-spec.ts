import { type INestMicroservice } from '@nestjs/common';
import { jetstream } from '@nats-io/jetstream';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { defineConsumer, publishEvent, sendCommand } from '../src';
import { aCancelJobCommand, aJobCancelledEvent } from './builders';
import { startProbeService } from './probe-service';
import { eventually, natsFixture, type NatsFixture } from './support';

/**
 * A message sent inside a span is handled inside that trace: the carrier puts the context into
 * NATS headers on the way out, and the transport runs the handler in it on the way in.
 */
const CONSUMER = defineConsumer({
  durableName: 'traced',
  stream: 'events',
  filterSubjects: (subjects) => [subjects.eventsOfAggregate('job')],
  ackWaitMs: 10_000,
  maxDeliver: 3,
});

const exporter = new InMemorySpanExporter();
const contextManager = new AsyncLocalStorageContextManager();
let nats: NatsFixture;
let app: INestMicroservice;
const handledIn = new Map<string, string | undefined>();
const activeTraceId = (): string | undefined =>
  trace.getSpan(context.active())?.spanContext().traceId;

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  nats = await natsFixture();
  app = await startProbeService(
    {
      onJobCancelled: async (event) => {
        handledIn.set(event.id, activeTraceId());
      },
      onCancel: async (command) => {
        handledIn.set(command.id, activeTraceId());
        return null;
      },
    },
    { nats: nats.nc, subjects: nats.subjects, service: 'controller', consumers: [CONSUMER] },
  );
});

afterAll(async () => {
  await app?.close();
  await nats?.teardown();
  trace.disable();
  propagation.disable();
  context.disable();
});

const tracer = () => trace.getTracer('trace-context.int-spec');

it('handles an event inside the trace it was published in', async () => {
  const event = aJobCancelledEvent().build();
  const publishedIn = await tracer().startActiveSpan('submit', async (span) => {
    await publishEvent(jetstream(nats.nc), nats.subjects, event);
    span.end();
    return span.spanContext().traceId;
  });

  const seen = await eventually(
    () => handledIn.get(event.id),
    (id) => id !== undefined,
    'the event',
  );
  expect(seen).toBe(publishedIn);
  // The consumer's own span is a child in that trace, not a fresh root.
  const consumerSpan = exporter
    .getFinishedSpans()
    .find((s) => s.name === `${CONSUMER.durableName} process`);
  expect(consumerSpan?.spanContext().traceId).toBe(publishedIn);
});

it('handles a command inside the trace it was sent in', async () => {
  const command = aCancelJobCommand('job-traced');
  const sentIn = await tracer().startActiveSpan('request', async (span) => {
    await sendCommand(nats.nc, nats.subjects, 'controller', 'cancel', command);
    span.end();
    return span.spanContext().traceId;
  });

  expect(handledIn.get(command.id)).toBe(sentIn);
});

it('starts no trace for a message sent outside one', async () => {
  const event = aJobCancelledEvent().build();
  await publishEvent(jetstream(nats.nc), nats.subjects, event);

  const consumerSpan = await eventually(
    () =>
      exporter.getFinishedSpans().find((s) => s.attributes['messaging.message.id'] === event.id),
    (span) => span !== undefined,
    'the consumer span',
  );
  expect(handledIn.get(event.id)).toBe(consumerSpan!.spanContext().traceId);
  expect(consumerSpan!.parentSpanContext).toBeUndefined();
});
