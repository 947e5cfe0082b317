import { headers as natsHeaders } from '@nats-io/transport-node';
import { ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { natsHeadersGetter, natsHeadersSetter } from './trace-carrier';

const propagator = new W3CTraceContextPropagator();
const spanContext = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: TraceFlags.SAMPLED,
};

describe('the NATS header carrier', () => {
  it('carries a span context there and back', () => {
    const hdrs = natsHeaders();
    propagator.inject(trace.setSpanContext(ROOT_CONTEXT, spanContext), hdrs, natsHeadersSetter);
    expect(hdrs.get('traceparent')).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');

    const extracted = trace.getSpanContext(
      propagator.extract(ROOT_CONTEXT, hdrs, natsHeadersGetter),
    );
    expect(extracted).toMatchObject({ ...spanContext, isRemote: true });
  });

  it('reads a header whose name another client capitalised', () => {
    const hdrs = natsHeaders();
    hdrs.set('Traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(natsHeadersGetter.get(hdrs, 'traceparent')).toBe(
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    );
  });

  it('finds nothing in a message without headers', () => {
    expect(natsHeadersGetter.get(undefined, 'traceparent')).toBeUndefined();
    expect(natsHeadersGetter.keys(undefined)).toEqual([]);
    expect(
      trace.getSpanContext(propagator.extract(ROOT_CONTEXT, undefined, natsHeadersGetter)),
    ).toBeUndefined();
  });

  it('writes nothing without a valid span context', () => {
    const hdrs = natsHeaders();
    propagator.inject(ROOT_CONTEXT, hdrs, natsHeadersSetter);
    expect(hdrs.has('traceparent')).toBe(false);
  });
});
