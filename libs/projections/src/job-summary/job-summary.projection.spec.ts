import { eventRegistry, type EventEnvelope } from '@gantry/contracts';
import { aJob } from '../../test/job-history.builder';
import { classifyStreamVersion } from '../projection';
import { projectJobSummary } from './job-summary.projection';

describe('projectJobSummary', () => {
  it('turns JobSubmitted into an upsert of a PENDING row carrying the spec and the stream version', () => {
    const [submitted] = aJob('j1')
      .forTenant('acme')
      .submitted({ name: 'train', nodes: 4, pool: 'gpu', priority: 7 })
      .envelopes();

    expect(projectJobSummary(submitted!)).toEqual([
      {
        kind: 'upsert',
        table: 'job_summary',
        key: { tenant: 'acme', job_id: 'j1' },
        version: 1,
        values: {
          state: 'PENDING',
          name: 'train',
          nodes: 4,
          pool: 'gpu',
          priority: 7,
          reason_code: null,
          reason: null,
          submitted_at: submitted!.metadata.occurredAt,
          updated_at: submitted!.metadata.occurredAt,
        },
      },
    ]);
  });

  it('fills the spec defaults a tenant left out (name absent, one node, cpu pool, priority 100)', () => {
    const [submitted] = aJob('j1').submitted().envelopes();
    const [op] = projectJobSummary(submitted!);

    expect(op).toMatchObject({
      kind: 'upsert',
      values: { name: null, nodes: 1, pool: 'cpu', priority: 100 },
    });
  });

  it.each([
    {
      name: 'admitted',
      history: aJob('j1').submitted().admitted(),
      set: { state: 'ADMITTED' },
    },
    {
      name: 'rejected, keeping the code and the reason',
      history: aJob('j1').submitted().rejected('QUOTA_EXCEEDED', 'cpu quota exhausted'),
      set: { state: 'REJECTED', reason_code: 'QUOTA_EXCEEDED', reason: 'cpu quota exhausted' },
    },
    {
      name: 'cancelled, keeping the reason',
      history: aJob('j1').submitted().cancelled('superseded'),
      set: { state: 'CANCELLED', reason: 'superseded' },
    },
  ])('updates the row when the job is $name', ({ history, set }) => {
    const last = history.envelopes().at(-1)!;

    expect(projectJobSummary(last)).toEqual([
      {
        kind: 'update',
        table: 'job_summary',
        key: { tenant: 'acme', job_id: 'j1' },
        version: 2,
        set: { ...set, updated_at: last.metadata.occurredAt },
      },
    ]);
  });

  it('stamps every op with its own event stream version, which is what lets the sink ignore older ones', () => {
    const envelopes = aJob('j1').submitted().admitted().cancelled().envelopes();

    expect(envelopes.flatMap(projectJobSummary).map((op) => op.version)).toEqual([1, 2, 3]);
  });

  it('projects a v1 JobSubmitted (nodeCount, memoryMb) once the registry has upcast it', () => {
    const [current] = aJob('j1').submitted().envelopes();
    const v1 = {
      ...current!,
      schemaVersion: 1,
      data: {
        jobId: 'j1',
        idempotencyKey: null,
        spec: { command: ['/bin/true'], nodeCount: 3, resources: { cpu: 1, memoryMb: 1000 } },
      },
    };

    const [op] = projectJobSummary(eventRegistry.parseEvent(v1));

    expect(op).toMatchObject({ kind: 'upsert', values: { nodes: 3, state: 'PENDING' } });
  });

  it('ignores events it does not know', () => {
    const [submitted] = aJob('j1').submitted().envelopes();
    const foreign: EventEnvelope = { ...submitted!, type: 'PoolCreated', data: { poolId: 'cpu' } };

    expect(projectJobSummary(foreign)).toEqual([]);
  });
});

describe('classifyStreamVersion', () => {
  it.each([
    { case: 'first event of a new stream', applied: 0, event: 1, expected: { kind: 'next' } },
    { case: 'the next version', applied: 4, event: 5, expected: { kind: 'next' } },
    { case: 'a redelivery of the last one', applied: 5, event: 5, expected: { kind: 'duplicate' } },
    { case: 'an older version', applied: 5, event: 2, expected: { kind: 'duplicate' } },
    {
      case: 'one missing',
      applied: 2,
      event: 4,
      expected: { kind: 'gap', fromVersion: 3, toVersion: 3 },
    },
    {
      case: 'a stream first seen mid-way',
      applied: 0,
      event: 3,
      expected: { kind: 'gap', fromVersion: 1, toVersion: 2 },
    },
  ])('$case: applied $applied, event $event', ({ applied, event, expected }) => {
    expect(classifyStreamVersion(applied, event)).toEqual(expected);
  });
});
