import { ROOT_CONTEXT, context, propagation, trace } from '@opentelemetry/api';
import { tracing } from '@opentelemetry/sdk-node';
import {
  Attr,
  contextFromTraceparent,
  currentTraceparent,
  startTelemetry,
  type Telemetry,
} from './index';

describe('startTelemetry', () => {
  let telemetry: Telemetry | undefined;
  afterEach(async () => {
    await telemetry?.shutdown();
    telemetry = undefined;
  });

  // Resource detection settles asynchronously, and the processor holds spans until it has.
  const inMemory = () => {
    const exporter = new tracing.InMemorySpanExporter();
    const processor = new tracing.SimpleSpanProcessor(exporter);
    const finished = async () => {
      await processor.forceFlush();
      return exporter.getFinishedSpans();
    };
    return { finished, processor };
  };

  it('creates spans with real trace ids even when nothing is exported', () => {
    telemetry = startTelemetry({ serviceName: 'scheduler', env: {} });

    const span = trace.getTracer('test').startSpan('place');
    span.end();

    expect(telemetry.exports.traces.kind).toBe('none');
    expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
  });

  it('names the service on the resource of every span', async () => {
    const { finished, processor } = inMemory();
    telemetry = startTelemetry({
      serviceName: 'gateway',
      serviceVersion: '1.2.3',
      spanProcessors: [processor],
      env: {},
    });

    trace.getTracer('test').startActiveSpan('submit', (span) => {
      span.setAttribute(Attr.JobId, 'j-1');
      span.end();
    });

    const [span] = await finished();
    expect(span?.resource.attributes['service.name']).toBe('gateway');
    expect(span?.resource.attributes['service.version']).toBe('1.2.3');
    expect(span?.attributes[Attr.JobId]).toBe('j-1');
  });

  it('propagates the trace id through inject and extract of a plain header object', async () => {
    const { finished, processor } = inMemory();
    telemetry = startTelemetry({ serviceName: 'gateway', spanProcessors: [processor], env: {} });
    const tracer = trace.getTracer('test');

    const headers: Record<string, string> = {};
    const producer = tracer.startSpan('publish');
    propagation.inject(trace.setSpan(context.active(), producer), headers);
    producer.end();

    const consumer = tracer.startSpan('handle', {}, propagation.extract(ROOT_CONTEXT, headers));
    consumer.end();

    expect(headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const [published, handled] = await finished();
    expect(handled?.spanContext().traceId).toBe(published?.spanContext().traceId);
    expect(handled?.parentSpanContext?.spanId).toBe(published?.spanContext().spanId);
  });

  it('does not start a second SDK when called twice', async () => {
    const first = inMemory();
    const second = inMemory();
    telemetry = startTelemetry({
      serviceName: 'scheduler',
      spanProcessors: [first.processor],
      env: {},
    });

    const again = startTelemetry({
      serviceName: 'scheduler',
      spanProcessors: [second.processor],
      env: {},
    });
    trace.getTracer('test').startSpan('cycle').end();

    expect(again).toBe(telemetry);
    expect(await first.finished()).toHaveLength(1);
    expect(await second.finished()).toHaveLength(0);
  });

  it('can start again after shutdown', async () => {
    await startTelemetry({ serviceName: 'scheduler', env: {} }).shutdown();
    const { finished, processor } = inMemory();
    telemetry = startTelemetry({ serviceName: 'scheduler', spanProcessors: [processor], env: {} });

    trace.getTracer('test').startSpan('cycle').end();

    expect(await finished()).toHaveLength(1);
  });
});

describe('currentTraceparent', () => {
  let telemetry: Telemetry | undefined;
  beforeEach(() => {
    telemetry = startTelemetry({ serviceName: 'event-publisher', env: {} });
  });
  afterEach(() => telemetry?.shutdown());

  it('names the active span', () => {
    trace.getTracer('test').startActiveSpan('publish', (span) => {
      const { traceId, spanId } = span.spanContext();
      expect(currentTraceparent()).toBe(`00-${traceId}-${spanId}-01`);
      span.end();
    });
  });

  it('is undefined outside any span', () => {
    expect(currentTraceparent()).toBeUndefined();
  });

  it('round-trips through contextFromTraceparent, so a consumer continues the trace', () => {
    const tracer = trace.getTracer('test');
    const producer = tracer.startSpan('append');
    const traceparent = currentTraceparent(trace.setSpan(ROOT_CONTEXT, producer));

    const consumer = tracer.startSpan('project', {}, contextFromTraceparent(traceparent));

    expect(consumer.spanContext().traceId).toBe(producer.spanContext().traceId);
    expect(currentTraceparent(trace.setSpan(ROOT_CONTEXT, consumer))).not.toBe(traceparent);
  });

  it('starts a new trace from a malformed traceparent instead of failing', () => {
    const consumer = trace
      .getTracer('test')
      .startSpan('project', {}, contextFromTraceparent('garbage'));

    expect(trace.isSpanContextValid(consumer.spanContext())).toBe(true);
  });
});
