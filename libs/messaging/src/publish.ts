import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { type EventEnvelope, type SubjectCatalogue } from '@gantry/contracts';
import { injectTraceContext } from './trace-carrier';

/** The header JetStream dedupes on; the envelope id goes there so a republished event is dropped. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';
export const TRACEPARENT_HEADER = 'traceparent';

const encoder = new TextEncoder();

export const encodeEnvelope = (envelope: unknown): Uint8Array =>
  encoder.encode(JSON.stringify(envelope));

/**
 * Publishes one stored event on its subject. The message id is the event id, so publishing the
 * same event twice (a publisher crash between publish and checkpoint) is deduplicated by
 * JetStream within its window, and by idempotent consumers beyond it.
 *
 * Trace context: the envelope's own traceparent wins, because it links the event to the request
 * that caused it, and a relay publishing stored events later runs in an unrelated trace of its own.
 * An envelope without one carries the caller's active context instead.
 */
export const publishEvent = (
  js: JetStreamClient,
  subjects: SubjectCatalogue,
  envelope: EventEnvelope,
  extraHeaders?: MsgHdrs,
): Promise<PubAck> => {
  const hdrs = extraHeaders ?? natsHeaders();
  if (!hdrs.has(TRACEPARENT_HEADER)) {
    if (envelope.metadata.traceparent) hdrs.set(TRACEPARENT_HEADER, envelope.metadata.traceparent);
    else injectTraceContext(hdrs);
  }
  return js.publish(
    subjects.event(envelope.metadata.tenant, envelope.metadata.streamId, envelope.type),
    encodeEnvelope(envelope),
    { msgID: envelope.id, headers: hdrs },
  );
};
