import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import {
  type JetStreamClient as NatsJetStreamClient,
  type JsMsg,
  type PubAck,
} from '@nats-io/jetstream';
import { z } from 'zod';
import { type GantryError, type SubjectCatalogue } from '@gantry/contracts';
import { type DeadLetterReason } from './outcome';
import { encodeEnvelope } from './publish';
import { injectTraceContext } from './trace-carrier';

/**
 * A poison message, parked on `<ns>.dlq.<consumer>` (the DLQ stream keeps it for 30 days) with
 * everything needed to understand and replay it: why, where it came from, how often it was tried,
 * and its bytes exactly as received (base64, because a poison message need not even be UTF-8).
 */
export const DEAD_LETTER_REASONS = [
  'unparseable',
  'invalid-envelope',
  'unknown-type',
  'non-retryable',
  'max-deliver-exceeded',
] as const satisfies readonly DeadLetterReason[];

export const DeadLetterSchema = z.strictObject({
  consumer: z.string(),
  reason: z.enum(DEAD_LETTER_REASONS),
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    retryable: z.boolean(),
    details: z.record(z.string(), z.unknown()),
  }),
  subject: z.string(),
  stream: z.string(),
  streamSequence: z.number().int(),
  deliveryCount: z.number().int(),
  headers: z.record(z.string(), z.array(z.string())),
  payloadBase64: z.string(),
  deadLetteredAt: z.iso.datetime({ offset: true }),
});
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

export const buildDeadLetter = (input: {
  consumer: string;
  reason: DeadLetterReason;
  error: GantryError;
  message: Pick<JsMsg, 'subject' | 'data' | 'headers' | 'info'>;
  now: Date;
}): DeadLetter => ({
  consumer: input.consumer,
  reason: input.reason,
  error: input.error.toJSON(),
  subject: input.message.subject,
  stream: input.message.info.stream,
  streamSequence: input.message.info.streamSequence,
  deliveryCount: input.message.info.deliveryCount,
  headers: headersToRecord(input.message.headers),
  payloadBase64: Buffer.from(input.message.data).toString('base64'),
  deadLetteredAt: input.now.toISOString(),
});

export const deadLetterPayload = (deadLetter: Pick<DeadLetter, 'payloadBase64'>): Buffer =>
  Buffer.from(deadLetter.payloadBase64, 'base64');

/**
 * Publishes the dead letter through JetStream, so it is stored before the original is termed.
 * The message id is derived from the original's stream position: if we crash between this publish
 * and term(), the redelivered message is dead-lettered again and JetStream drops the duplicate.
 */
export const publishDeadLetter = (
  js: NatsJetStreamClient,
  subjects: SubjectCatalogue,
  deadLetter: DeadLetter,
): Promise<PubAck> => {
  const hdrs = injectTraceContext(natsHeaders());
  return js.publish(subjects.deadLetter(deadLetter.consumer), encodeEnvelope(deadLetter), {
    msgID: `dlq:${deadLetter.consumer}:${deadLetter.stream}:${deadLetter.streamSequence}`,
    headers: hdrs,
  });
};

const headersToRecord = (headers: MsgHdrs | undefined): Record<string, string[]> => {
  const record: Record<string, string[]> = {};
  if (!headers) return record;
  for (const [key, values] of headers) record[key] = [...values];
  return record;
};
