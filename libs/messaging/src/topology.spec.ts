import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { createSubjects } from '@gantry/contracts';
import { consumerConfig, defineConsumer, type ConsumerDeclaration } from './topology';

const subjects = createSubjects('gantry');
const projector: ConsumerDeclaration = {
  durableName: 'job-status',
  stream: 'events',
  filterSubjects: (s) => [s.eventsOfAggregate('job')],
  ackWaitMs: 30_000,
  maxDeliver: 5,
};

describe('consumer declarations', () => {
  it('become a durable, explicitly acked pull consumer from the start of the stream', () => {
    expect(consumerConfig(subjects, projector)).toEqual({
      durable_name: 'job-status',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 30_000_000_000,
      max_deliver: 5,
      filter_subject: 'gantry.evt.*.job.>',
    });
  });

  it('resolve their filters in the namespace they are ensured in', () => {
    expect(consumerConfig(createSubjects('t_1'), projector).filter_subject).toBe('t_1.evt.*.job.>');
  });

  it('use filter_subjects only for more than one filter', () => {
    const config = consumerConfig(subjects, {
      ...projector,
      filterSubjects: (s) => [s.eventsOfAggregate('job'), s.eventsOfAggregate('lease')],
    });
    expect(config.filter_subjects).toEqual(['gantry.evt.*.job.>', 'gantry.evt.*.lease.>']);
    expect(config.filter_subject).toBeUndefined();
  });

  it('turn a backoff schedule into nanoseconds', () => {
    expect(consumerConfig(subjects, { ...projector, backoff: [1_000, 5_000] }).backoff).toEqual([
      1e9, 5e9,
    ]);
  });

  it.each([
    { name: 'a durable name that is no subject token', change: { durableName: 'job.status' } },
    { name: 'no deliveries at all', change: { maxDeliver: 0 } },
    { name: 'no ack wait', change: { ackWaitMs: 0 } },
    { name: 'a backoff schedule as long as maxDeliver', change: { backoff: [1, 2, 3, 4, 5] } },
  ])('refuse $name', ({ change }) => {
    expect(() => defineConsumer({ ...projector, ...change })).toThrow(/job/);
  });

  it('accept a sound declaration unchanged', () => {
    expect(defineConsumer(projector)).toBe(projector);
  });
});
