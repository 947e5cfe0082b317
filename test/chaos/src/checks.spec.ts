import {
  judgeHistory,
  judgeOutputs,
  percentiles,
  seededRandom,
  sharedRefs,
  type StoredEvent,
} from './checks';

/** A history from `[type, data]` pairs, versions 1..n. */
const history = (...events: [string, Record<string, unknown>?][]): StoredEvent[] =>
  events.map(([type, data], i) => ({
    version: i + 1,
    type,
    data: data ?? {},
    occurredAt: new Date(1_000 * i),
  }));

const lease = (leaseEpoch: number, ...nodeIds: string[]): [string, Record<string, unknown>] => [
  'JobLeased',
  { leaseEpoch, nodes: nodeIds.map((nodeId, rank) => ({ nodeId, rank })) },
];

const QUEUED: [string, Record<string, unknown>?][] = [
  ['JobSubmitted'],
  ['JobAdmitted'],
  ['JobQueued'],
];

describe('judgeHistory', () => {
  it('accepts a retried gang whose every report carries the live epoch', () => {
    const verdict = judgeHistory(
      history(
        ...QUEUED,
        lease(1, 'a', 'b'),
        ['JobStarted', { leaseEpoch: 1 }],
        ['RankExited', { leaseEpoch: 1, rank: 0, nodeId: 'a' }],
        ['AttemptFailed', { leaseEpoch: 1, nodeLost: 'b' }],
        ['JobRetryScheduled'],
        lease(2, 'c', 'a'),
        ['JobStarted', { leaseEpoch: 2 }],
        ['RankExited', { leaseEpoch: 2, rank: 0, nodeId: 'c' }],
        ['RankExited', { leaseEpoch: 2, rank: 1, nodeId: 'a' }],
        ['JobSucceeded', { leaseEpoch: 2, attempt: 2 }],
      ),
    );
    expect(verdict).toEqual({
      state: 'SUCCEEDED',
      terminal: true,
      succeededAttempt: 2,
      leases: 2,
      illegal: [],
      doubleAssignment: [],
    });
  });

  it('reports a job that never left QUEUED as not terminal', () => {
    expect(judgeHistory(history(...QUEUED))).toMatchObject({ state: 'QUEUED', terminal: false });
    expect(judgeHistory([])).toMatchObject({ state: 'NONE', terminal: false });
  });

  it.each([
    ['a report from the previous epoch', ['RankExited', { leaseEpoch: 1, rank: 0, nodeId: 'a' }]],
    ['a start from the previous epoch', ['JobStarted', { leaseEpoch: 1 }]],
    [
      'a rank reported by a node that does not hold it',
      ['RankExited', { leaseEpoch: 2, rank: 0, nodeId: 'a' }],
    ],
  ] as [string, [string, Record<string, unknown>]][])('flags %s', (_, stale) => {
    const verdict = judgeHistory(
      history(
        ...QUEUED,
        lease(1, 'a'),
        ['AttemptFailed', { leaseEpoch: 1, nodeLost: 'a' }],
        ['JobRetryScheduled'],
        lease(2, 'b'),
        stale,
      ),
    );
    expect(verdict.doubleAssignment).toHaveLength(1);
  });

  it('flags a second lease while the first is live, and an epoch that does not increase', () => {
    const verdict = judgeHistory(history(...QUEUED, lease(2, 'a'), lease(2, 'b')));
    expect(verdict.doubleAssignment).toEqual([
      'v5 JobLeased: epoch 2 while epoch 2 is live',
      'v5 JobLeased: epoch 2 does not follow 2',
    ]);
    expect(verdict.illegal).toEqual(['v5 JobLeased: LEASED -> LEASED is illegal']);
  });

  it('flags an illegal transition and a gap in the versions', () => {
    const events = history(['JobSubmitted'], ['JobQueued'], ['JobSucceeded', { attempt: 1 }]);
    const gapped = [events[0]!, { ...events[1]!, version: 3 }];
    expect(judgeHistory(events).illegal).toEqual([
      'v2 JobQueued: PENDING -> QUEUED is illegal',
      'v3 JobSucceeded: QUEUED -> SUCCEEDED is illegal',
    ]);
    expect(judgeHistory(gapped).illegal).toContain('v3 JobQueued: expected version 2');
  });

  it('flags outputs committed, or progress recorded, outside a running attempt', () => {
    const verdict = judgeHistory(
      history(...QUEUED, lease(1, 'a'), ['OutputsCommitted', { leaseEpoch: 1 }]),
    );
    expect(verdict.illegal).toEqual(['v5 OutputsCommitted: not legal in LEASED']);
  });

  it('follows a release to the state the hold found the job in', () => {
    const verdict = judgeHistory(
      history(...QUEUED, ['JobHeld'], ['JobReleased', { releasedTo: 'QUEUED' }], lease(1, 'a')),
    );
    expect(verdict).toMatchObject({ state: 'LEASED', illegal: [], doubleAssignment: [] });
  });
});

describe('percentiles and seededRandom', () => {
  it('gives p50 and max, or nothing for no values', () => {
    expect(percentiles([9_000, 7_000, 8_000, 10_500])).toEqual({ p50: 8_000, max: 10_500 });
    expect(percentiles([])).toBeUndefined();
  });

  it('replays the same sequence from the same seed, and another from another', () => {
    const take = (seed: number) => Array.from({ length: 5 }, seededRandom(seed));
    expect(take(42)).toEqual(take(42));
    expect(take(42)).not.toEqual(take(43));
    expect(take(42).every((x) => x >= 0 && x < 1)).toBe(true);
  });
});

describe('judgeOutputs', () => {
  const out = (name: string, ref: string) => ({ name, ref, size: 1, sha256: `${ref}-digest` });
  const commit = (attempt: number, leaseEpoch: number, ...outputs: object[]) =>
    ['OutputsCommitted', { attempt, leaseEpoch, outputs }] as [string, Record<string, unknown>];
  const success = (attempt: number, leaseEpoch: number) =>
    ['JobSucceeded', { attempt, leaseEpoch }] as [string, Record<string, unknown>];
  const checkpoint = (sha256: string) =>
    ['JobCheckpointed', { checkpoint: { sha256 } }] as [string, Record<string, unknown>];

  it('accepts one commit sealed by its own success, and names the checkpoint to resume from', () => {
    const verdict = judgeOutputs(
      history(
        ...QUEUED,
        lease(1, 'a'),
        checkpoint('c1'),
        ['JobRetryScheduled'],
        lease(2, 'b'),
        checkpoint('c2'),
        commit(2, 2, out('result.txt', 'r1')),
        success(2, 2),
      ),
    );
    expect(verdict).toEqual({
      committed: [{ ...out('result.txt', 'r1'), attempt: 2 }],
      duplicates: [],
      resumeFrom: 'c1',
    });
  });

  it.each([
    [
      'a second commit',
      [commit(1, 1, out('a', 'r1')), success(1, 1), commit(1, 1, out('a', 'r2'))],
    ],
    ['a commit sealed by another epoch', [commit(1, 1, out('a', 'r1')), success(1, 2)]],
    ['a commit with no success', [commit(1, 1, out('a', 'r1'))]],
    ['one name twice', [commit(1, 1, out('a', 'r1'), out('a', 'r2')), success(1, 1)]],
  ] as [string, [string, Record<string, unknown>][]][])('flags %s', (_case, events) => {
    expect(judgeOutputs(history(...QUEUED, lease(1, 'a'), ...events)).duplicates).not.toEqual([]);
  });

  it('has nothing to resume from when no checkpoint came before the last lease', () => {
    expect(
      judgeOutputs(history(...QUEUED, lease(1, 'a'), checkpoint('c1'))).resumeFrom,
    ).toBeUndefined();
  });

  it('finds a ref committed by two jobs', () => {
    const committed = { name: 'a', ref: 'r1', size: 1, sha256: 'd', attempt: 1 };
    expect(
      sharedRefs(
        new Map([
          ['j1', [committed]],
          ['j2', [committed]],
        ]),
      ),
    ).toEqual(['r1 committed by j1 and j2']);
    expect(sharedRefs(new Map([['j1', [committed]]]))).toEqual([]);
  });
});
