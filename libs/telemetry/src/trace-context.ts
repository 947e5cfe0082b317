import {
  type Context,
  ROOT_CONTEXT,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/**
 * Message envelopes carry the W3C `traceparent` as a plain field (contracts' envelope), not as
 * transport headers, so a trace survives the event store: an event read back from Postgres and
 * republished still continues the request that caused it. These helpers use the W3C propagator
 * directly rather than the global one, so the envelope field is always W3C whatever
 * OTEL_PROPAGATORS says.
 */
const w3c = new W3CTraceContextPropagator();

interface TraceHeaders {
  traceparent?: string;
  tracestate?: string;
}

/** The active span's `traceparent`, or undefined when there is no valid span (or tracing is off). */
export const currentTraceparent = (from: Context = context.active()): string | undefined => {
  const carrier: TraceHeaders = {};
  w3c.inject(from, carrier, defaultTextMapSetter);
  return carrier.traceparent;
};

/**
 * A context whose parent is the span a `traceparent` names, for handling a message as part of
 * the trace that produced it. A missing or malformed traceparent yields `base` unchanged, so a
 * bad header starts a new trace instead of failing the message.
 */
export const contextFromTraceparent = (
  traceparent: string | undefined,
  base: Context = ROOT_CONTEXT,
): Context => {
  if (traceparent === undefined) return base;
  const carrier: TraceHeaders = { traceparent };
  return w3c.extract(base, carrier, defaultTextMapGetter);
};
