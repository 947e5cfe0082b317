import {
  eventRegistry,
  JobSpecSchema,
  jobEventDefinitions,
  type EventEnvelope,
  type JobEvent,
} from '@gantry/contracts';
import { aJob } from '../../test/job-history.builder';
import { classifyStreamVersion } from '../projection';
import { JOB_STEPS_TABLE, JOB_SUMMARY_TABLE, projectJobSummary } from './job-summary.projection';

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
          attempt: 0,
          lease_epoch: 0,
          assigned_nodes: '[]',
          exit_codes: '[]',
          cancel_requested: false,
          not_before: null,
          admitted_at: null,
          queued_at: null,
          started_at: null,
          finished_at: null,
          outputs: '[]',
          progress: null,
          checkpoint: null,
          run: 0,
          parent_job_id: null,
          parent_step: null,
          parent_run: null,
        },
      },
    ]);
  });

  it('writes a row per step of a job with steps, waiting in run 1, and a step job its parent', () => {
    const [withSteps] = aJob('j1')
      .submitted({
        steps: [
          { name: 'a', command: ['true'] },
          { name: 'b', command: ['true'], dependsOn: ['a'] },
        ],
      })
      .envelopes();
    const ops = projectJobSummary(withSteps!);
    expect(ops.filter((op) => op.table === 'job_steps')).toEqual(
      ['a', 'b'].map((step, position) => ({
        kind: 'upsert',
        table: 'job_steps',
        key: { tenant: 'acme', job_id: 'j1', step },
        version: 1,
        values: {
          position,
          depends_on: JSON.stringify(step === 'b' ? ['a'] : []),
          state: 'WAITING',
          run: 1,
          child_job_id: null,
          outputs: '[]',
          reason: null,
          updated_at: withSteps!.metadata.occurredAt,
        },
      })),
    );
    expect(ops.find((op) => op.table === 'job_summary')).toMatchObject({ values: { run: 1 } });

    const child = {
      ...withSteps!,
      data: { ...withSteps!.data, spec: { ...(withSteps!.data['spec'] as object), steps: [] } },
    };
    const parent = { jobId: 'j0', step: 'a', run: 2 };
    expect(projectJobSummary({ ...child, data: { ...child.data, parent } })).toEqual([
      expect.objectContaining({
        table: 'job_summary',
        values: expect.objectContaining({
          run: 0,
          parent_job_id: 'j0',
          parent_step: 'a',
          parent_run: 2,
        }),
      }),
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
      set: { state: 'ADMITTED', admitted_at: '2026-01-01T00:00:02.000Z' },
    },
    {
      name: 'rejected, keeping the code and the reason',
      history: aJob('j1').submitted().rejected('QUOTA_EXCEEDED', 'cpu quota exhausted'),
      set: {
        state: 'REJECTED',
        reason_code: 'QUOTA_EXCEEDED',
        reason: 'cpu quota exhausted',
        // No rejectedAt in this recorded event: the envelope's time stands in.
        finished_at: '2026-01-01T00:00:02.000Z',
      },
    },
    {
      name: 'cancelled, keeping the reason',
      history: aJob('j1').submitted().cancelled('superseded'),
      set: { state: 'CANCELLED', reason: 'superseded', finished_at: '2026-01-01T00:00:02.000Z' },
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

describe('projectJobSummary over the lifecycle', () => {
  const T = (s: number): string =>
    new Date(Date.parse('2026-01-01T00:00:00.000Z') + s * 1_000).toISOString();
  const gang = [
    { nodeId: 'node-b', rank: 1 },
    { nodeId: 'node-a', rank: 0 },
  ];
  /** The envelope the store would hand back for `event` at stream version `version`. */
  const stored = (event: JobEvent, version: number): EventEnvelope => ({
    id: `00000000-0000-4000-8000-${String(version).padStart(12, '0')}`,
    type: event.type,
    schemaVersion: 1,
    data: event.data,
    metadata: {
      tenant: 'acme',
      occurredAt: T(version),
      causationId: null,
      correlationId: 'corr-j1',
      streamId: 'job-j1',
      streamVersion: version,
    },
  });
  const lease = { jobId: 'j1', attempt: 2, leaseEpoch: 5 };
  const output = {
    name: 'model.bin',
    ref: `file-${'a'.repeat(32)}`,
    size: 3,
    sha256: 'b'.repeat(64),
  };

  const cases: { name: string; event: JobEvent; set: Record<string, unknown> }[] = [
    {
      name: 'blocked',
      event: { type: 'JobBlocked', data: { jobId: 'j1', waitingOn: ['j0'], blockedAt: T(9) } },
      set: { state: 'BLOCKED' },
    },
    {
      name: 'queued',
      event: { type: 'JobQueued', data: { jobId: 'j1', queuedAt: T(9) } },
      set: { state: 'QUEUED', queued_at: T(9) },
    },
    {
      name: 'held with a reason',
      event: { type: 'JobHeld', data: { jobId: 'j1', reason: 'gate', heldBy: 'k', heldAt: T(9) } },
      set: { state: 'HELD', reason: 'gate' },
    },
    {
      name: 'released back to where it was held',
      event: {
        type: 'JobReleased',
        data: { jobId: 'j1', releasedTo: 'BLOCKED', releasedBy: 'k', releasedAt: T(9) },
      },
      set: { state: 'BLOCKED' },
    },
    {
      name: 'leased to a gang, shown by rank',
      event: {
        type: 'JobLeased',
        data: { ...lease, nodes: gang, leaseExpiresAt: T(39), leasedAt: T(9) },
      },
      set: {
        state: 'LEASED',
        attempt: 2,
        lease_epoch: 5,
        assigned_nodes: '[{"nodeId":"node-a","rank":0},{"nodeId":"node-b","rank":1}]',
        exit_codes: '[null,null]',
        not_before: null,
        progress: null,
      },
    },
    {
      name: 'staging',
      event: { type: 'JobStagingStarted', data: { ...lease, stagingStartedAt: T(9) } },
      set: { state: 'STAGING' },
    },
    {
      name: 'running',
      event: { type: 'JobStarted', data: { ...lease, startedAt: T(9) } },
      set: { state: 'RUNNING', started_at: T(9) },
    },
    {
      name: 'one rank exited',
      event: {
        type: 'RankExited',
        data: {
          ...lease,
          rank: 1,
          nodeId: 'node-b',
          exitCode: 0,
          outputs: [],
          children: [],
          exitedAt: T(9),
        },
      },
      set: {},
    },
    {
      name: 'outputs committed, each with the attempt that made it',
      event: {
        type: 'OutputsCommitted',
        data: { ...lease, outputs: [output], committedAt: T(9) },
      },
      set: { outputs: JSON.stringify([{ ...output, attempt: 2 }]) },
    },
    {
      name: 'progressed',
      event: { type: 'JobProgressed', data: { ...lease, progress: 0.25, progressedAt: T(9) } },
      set: { progress: 0.25 },
    },
    {
      name: 'checkpointed',
      event: {
        type: 'JobCheckpointed',
        data: { ...lease, checkpoint: output, checkpointedAt: T(9) },
      },
      set: { checkpoint: JSON.stringify({ ...output, attempt: 2, at: T(9) }) },
    },
    {
      name: 'lease expired',
      event: { type: 'LeaseExpired', data: { ...lease, expiredAt: T(9) } },
      set: { reason: 'attempt 2: lease 5 expired' },
    },
    {
      name: 'an attempt failed',
      event: {
        type: 'AttemptFailed',
        data: { ...lease, reason: 'rank 1 exited 3', exitCodes: [null, 3], failedAt: T(9) },
      },
      set: { reason: 'rank 1 exited 3', exit_codes: '[null,3]' },
    },
    {
      name: 'a retry was scheduled',
      event: {
        type: 'JobRetryScheduled',
        data: {
          jobId: 'j1',
          nextAttempt: 3,
          backoffSeconds: 4,
          notBefore: T(13),
          scheduledAt: T(9),
        },
      },
      set: { state: 'QUEUED', assigned_nodes: '[]', not_before: T(13), queued_at: T(9) },
    },
    {
      name: 'succeeded',
      event: { type: 'JobSucceeded', data: { ...lease, exitCodes: [0, 0], succeededAt: T(9) } },
      set: { state: 'SUCCEEDED', exit_codes: '[0,0]', reason: null, finished_at: T(9) },
    },
    {
      name: 'failed',
      event: {
        type: 'JobFailed',
        data: { jobId: 'j1', attempt: 2, reason: 'exit 42', failedAt: T(9) },
      },
      set: { state: 'FAILED', reason: 'exit 42', finished_at: T(9) },
    },
    {
      name: 'dead-lettered',
      event: {
        type: 'JobDeadLettered',
        data: { jobId: 'j1', attempts: 3, reason: 'budget spent', deadLetteredAt: T(9) },
      },
      set: { state: 'DEAD_LETTER', reason: 'budget spent', finished_at: T(9) },
    },
    {
      name: 'asked to cancel (the state stays)',
      event: {
        type: 'JobCancelRequested',
        data: { jobId: 'j1', reason: 'r', requestedBy: 'k', requestedAt: T(9) },
      },
      set: { cancel_requested: true },
    },
    {
      name: 'cancelled, at its own time',
      event: {
        type: 'JobCancelled',
        data: { jobId: 'j1', reason: 'r', cancelledBy: 'k', cancelledAt: T(9) },
      },
      set: { state: 'CANCELLED', reason: 'r', finished_at: T(9) },
    },
    {
      name: 'asked to preempt (the state stays while the ranks stop)',
      event: {
        type: 'AttemptPreemptionRequested',
        data: { ...lease, preemptedBy: 'j9', reason: 'preempted by job j9', requestedAt: T(9) },
      },
      set: {},
    },
    {
      name: 'preempted: back in the queue at once, with no backoff',
      event: {
        type: 'AttemptPreempted',
        data: {
          ...lease,
          preemptedBy: 'j9',
          reason: 'preempted by job j9',
          exitCodes: [143, 143],
          preemptedAt: T(9),
        },
      },
      set: {
        state: 'QUEUED',
        assigned_nodes: '[]',
        exit_codes: '[143,143]',
        not_before: null,
        queued_at: T(9),
        reason: 'attempt 2: preempted by job j9',
      },
    },
  ];

  const stepCases: {
    name: string;
    event: JobEvent;
    summary: Record<string, unknown>;
    steps: Record<string, Record<string, unknown>>;
  }[] = [
    {
      name: 'a step submitted as a job of its own',
      event: {
        type: 'StepSubmitted',
        data: { jobId: 'j1', step: 'a', run: 1, childJobId: 'c1', submittedAt: T(9) },
      },
      summary: {},
      steps: { a: { state: 'SUBMITTED', run: 1, child_job_id: 'c1', reason: null } },
    },
    {
      name: 'a step succeeded, with its job committed outputs',
      event: {
        type: 'StepSucceeded',
        data: { jobId: 'j1', step: 'a', run: 1, childJobId: 'c1', outputs: [], succeededAt: T(9) },
      },
      summary: {},
      steps: {
        a: { state: 'SUCCEEDED', run: 1, child_job_id: 'c1', outputs: '[]', reason: null },
      },
    },
    {
      name: 'a step failed',
      event: {
        type: 'StepFailed',
        data: {
          jobId: 'j1',
          step: 'a',
          run: 1,
          childJobId: 'c1',
          childState: 'DEAD_LETTER',
          reason: 'exit 3',
          failedAt: T(9),
        },
      },
      summary: {},
      steps: { a: { state: 'FAILED', run: 1, child_job_id: 'c1', reason: 'exit 3' } },
    },
    {
      name: 'a step skipped, saying why',
      event: {
        type: 'StepSkipped',
        data: { jobId: 'j1', step: 'b', run: 1, reason: 'a failed', skippedAt: T(9) },
      },
      summary: {},
      steps: { b: { state: 'SKIPPED', run: 1, child_job_id: null, reason: 'a failed' } },
    },
    {
      name: 'the steps succeeded: the job did',
      event: { type: 'StepsSucceeded', data: { jobId: 'j1', run: 1, succeededAt: T(9) } },
      summary: { state: 'SUCCEEDED', reason: null, finished_at: T(9) },
      steps: {},
    },
    {
      name: 'a step failed: the job did, once nothing more could run',
      event: {
        type: 'StepsFailed',
        data: {
          jobId: 'j1',
          run: 1,
          reason: 'a failed',
          failedSteps: ['a'],
          skippedSteps: ['b'],
          failedAt: T(9),
        },
      },
      summary: { state: 'FAILED', reason: 'a failed', finished_at: T(9) },
      steps: {},
    },
    {
      name: 'a retry: the job waits again, its rerun steps in the new run',
      event: {
        type: 'StepsRetried',
        data: { jobId: 'j1', run: 2, steps: ['a', 'b'], retriedBy: 'k', retriedAt: T(9) },
      },
      summary: { state: 'BLOCKED', run: 2, reason: null, finished_at: null },
      steps: Object.fromEntries(
        ['a', 'b'].map((step) => [
          step,
          { state: 'WAITING', run: 2, child_job_id: null, outputs: '[]', reason: null },
        ]),
      ),
    },
  ];

  const fannedOut: JobEvent = {
    type: 'JobFannedOut',
    data: {
      ...lease,
      exitCodes: [0, 0],
      children: [
        {
          name: 'part',
          spec: JobSpecSchema.parse({ command: ['true'], resources: { cpu: 1, memoryMiB: 64 } }),
        },
      ],
      fannedOutAt: T(9),
    },
  };

  it('a fan-out: the job waits for its children, each a waiting step of it', () => {
    expect(projectJobSummary(stored(fannedOut, 7))).toEqual([
      {
        kind: 'update',
        table: 'job_summary',
        key: { tenant: 'acme', job_id: 'j1' },
        version: 7,
        set: { state: 'BLOCKED', exit_codes: '[0,0]', run: 1, reason: null, updated_at: T(7) },
      },
      {
        kind: 'upsert',
        table: 'job_steps',
        key: { tenant: 'acme', job_id: 'j1', step: 'part' },
        version: 7,
        values: {
          position: 0,
          depends_on: '[]',
          state: 'WAITING',
          run: 1,
          child_job_id: null,
          outputs: '[]',
          reason: null,
          updated_at: T(7),
        },
      },
    ]);
  });

  it.each(stepCases)('$name', ({ event, summary, steps }) => {
    expect(projectJobSummary(stored(event, 7))).toEqual([
      {
        kind: 'update',
        table: 'job_summary',
        key: { tenant: 'acme', job_id: 'j1' },
        version: 7,
        set: { ...summary, updated_at: T(7) },
      },
      ...Object.entries(steps).map(([step, set]) => ({
        kind: 'update',
        table: 'job_steps',
        key: { tenant: 'acme', job_id: 'j1', step },
        version: 7,
        set: { ...set, updated_at: T(7) },
      })),
    ]);
  });

  it.each(cases)('$name', ({ event, set }) => {
    expect(projectJobSummary(stored(event, 7))).toEqual([
      {
        kind: 'update',
        table: 'job_summary',
        key: { tenant: 'acme', job_id: 'j1' },
        version: 7,
        set: { ...set, updated_at: T(7) },
      },
    ]);
  });

  it('covers every job event type, writing only columns the table declares', () => {
    const covered = new Set([
      'JobSubmitted',
      'JobAdmitted',
      'JobRejected',
      ...cases.map((c) => c.event.type),
      ...stepCases.map((c) => c.event.type),
      fannedOut.type,
    ]);
    const writable = new Map(
      [JOB_SUMMARY_TABLE, JOB_STEPS_TABLE].map((t) => [t.name, new Set(t.columns)]),
    );

    expect(jobEventDefinitions.map((d) => d.type).filter((t) => !covered.has(t))).toEqual([]);
    for (const { event } of [...cases, ...stepCases, { event: fannedOut }]) {
      for (const op of projectJobSummary(stored(event, 7))) {
        const columns = Object.keys(op.kind === 'upsert' ? op.values : op.set);
        expect(columns.filter((column) => !writable.get(op.table)?.has(column))).toEqual([]);
      }
    }
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
