import { headers as natsHeaders } from '@nats-io/transport-node';
import { ErrorCodes, GantryError } from '@gantry/contracts';
import { DeadLetterSchema, buildDeadLetter, deadLetterPayload } from './dead-letter';

describe('dead letters', () => {
  const hdrs = natsHeaders();
  hdrs.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  const poison = Uint8Array.of(0xff, 0x00, 0x7b);
  const deadLetter = buildDeadLetter({
    consumer: 'job-status',
    reason: 'unparseable',
    error: new GantryError(ErrorCodes.VALIDATION_FAILED, 'message is not UTF-8 JSON'),
    message: {
      subject: 'gantry.evt.acme.job.j1.JobCancelled',
      data: poison,
      headers: hdrs,
      info: { stream: 'GANTRY_EVENTS', streamSequence: 42, deliveryCount: 1 } as never,
    },
    now: new Date('2025-01-02T03:04:05.000Z'),
  });

  it('records why, where from, and how often it was tried', () => {
    expect(deadLetter).toMatchObject({
      consumer: 'job-status',
      reason: 'unparseable',
      error: { code: ErrorCodes.VALIDATION_FAILED, retryable: false },
      subject: 'gantry.evt.acme.job.j1.JobCancelled',
      stream: 'GANTRY_EVENTS',
      streamSequence: 42,
      deliveryCount: 1,
      headers: { traceparent: ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'] },
      deadLetteredAt: '2025-01-02T03:04:05.000Z',
    });
  });

  it('keeps the payload byte for byte, even when it is not text', () => {
    expect(deadLetterPayload(deadLetter)).toEqual(Buffer.from(poison));
  });

  it('survives the trip through JSON in the shape it promises', () => {
    expect(DeadLetterSchema.parse(JSON.parse(JSON.stringify(deadLetter)))).toEqual(deadLetter);
  });
});
