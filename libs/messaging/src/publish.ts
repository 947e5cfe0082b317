import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { type EventEnvelope, type SubjectCatalogue } from '@gantry/contracts';

/** The header JetStream dedupes on; the envelope id goes there so a republished event is dropped. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';
export const TRACEPARENT_HEADER = 'traceparent';

const encoder = new TextEncoder();

export const encodeEnvelope = (envelope: unknown): Uint8Array => encoder.encode(JSON.stringify(envelope));

/**
 * Publishes one stored event on its subject. The message id is the event id, so publishing the
 * same event twice (a publisher crash between publish and checkpoint) is deduplicated by
 * JetStream within its window, and by idempotent consumers beyond it.
 */
export const publishEvent = (
  js: JetStreamClient,
  subjects: SubjectCatalogue,
  envelope: EventEnvelope,
  extraHeaders?: MsgHdrs,
): Promise<PubAck> => {
  const hdrs = extraHeaders ?? natsHeaders();
  if (envelope.metadata.traceparent && !hdrs.has(TRACEPARENT_HEADER)) {
    hdrs.set(TRACEPARENT_HEADER, envelope.metadata.traceparent);
  }
  return js.publish(
    subjects.event(envelope.metadata.tenant, envelope.metadata.streamId, envelope.type),
    encodeEnvelope(envelope),
    { msgID: envelope.id, headers: hdrs },
  );
};
