import {
  context,
  propagation,
  type Context,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { Match, type MsgHdrs } from '@nats-io/transport-node';

/**
 * Our own OpenTelemetry carrier over NATS headers: NATS has no auto-instrumentation, so the
 * transport carries `traceparent` (and whatever else the registered propagator uses) itself.
 * Header names are matched case-insensitively, because other clients may canonicalise them.
 */
export const natsHeadersGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => carrier?.keys() ?? [],
  get: (carrier, key) => {
    if (!carrier?.has(key, Match.IgnoreCase)) return undefined;
    const values = carrier.values(key, Match.IgnoreCase);
    return values.length === 1 ? values[0] : values;
  },
};

export const natsHeadersSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** The context a message's handler should run in: the sender's trace, if it sent one. */
export const extractTraceContext = (
  headers: MsgHdrs | undefined,
  parent: Context = context.active(),
): Context => propagation.extract(parent, headers, natsHeadersGetter);

/** Writes the active (or given) trace context into outgoing headers; a no-op without a valid span. */
export const injectTraceContext = (headers: MsgHdrs, from: Context = context.active()): MsgHdrs => {
  propagation.inject(from, headers, natsHeadersSetter);
  return headers;
};
