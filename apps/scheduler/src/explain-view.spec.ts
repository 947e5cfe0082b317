import { JobExplanationSchema } from '@gantry/contracts';
import { DEFAULT_WEIGHTS, type Explanation } from '@gantry/scheduling';
import { PlacedExplanations, explanationView, notRetained } from './explain-view';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');

const anExplanation = (jobId: string, overrides: Partial<Explanation> = {}): Explanation => ({
  tenant: 'acme',
  jobId,
  outcome: 'placed',
  queuePosition: 1,
  tenantShare: 0.25,
  weights: DEFAULT_WEIGHTS,
  policy: 'spread',
  candidates: [
    {
      nodeId: 'n1',
      terms: { fit: 0.5, load: 1, health: 1, locality: 0, affinity: 0, cost: 0.5 },
      total: 2,
      tieBreak: 7,
    },
  ],
  filtered: [
    { nodeId: 'n2', filter: 'health' },
    { nodeId: 'n3', filter: 'capacity' },
  ],
  outsidePool: 4,
  chosen: ['n1'],
  why: 'the only 1 node(s) that passed the hard filters',
  waitingFor: null,
  ...overrides,
});

describe('explanationView', () => {
  it('keeps every score term and names the standing of a node kept out for its health', () => {
    const view = explanationView(anExplanation('j1'), T0, (nodeId) =>
      nodeId === 'n2' ? 'quarantined' : null,
    );
    expect(JobExplanationSchema.parse(view)).toEqual(view);
    expect(view).toMatchObject({
      retained: true,
      outcome: 'placed',
      decidedAt: '2026-12-07T10:00:00.000Z',
      chosen: ['n1'],
      candidates: [{ nodeId: 'n1', total: 2, tieBreak: 7 }],
      filtered: [
        { nodeId: 'n2', filter: 'health', standing: 'quarantined' },
        { nodeId: 'n3', filter: 'capacity', standing: null },
      ],
    });
  });

  it.each([
    [
      { kind: 'backoff', until: T0 } as const,
      { kind: 'backoff', until: '2026-12-07T10:00:00.000Z' },
    ],
    [
      { kind: 'reservation', startsAt: T0, nodes: ['n1'] } as const,
      { kind: 'reservation', startsAt: '2026-12-07T10:00:00.000Z', nodes: ['n1'] },
    ],
    [
      { kind: 'capacity', behind: { jobId: 'big', startsAt: T0 } } as const,
      { kind: 'capacity', behind: { jobId: 'big', startsAt: '2026-12-07T10:00:00.000Z' } },
    ],
    [{ kind: 'never-fits', feasibleNodes: 0 } as const, { kind: 'never-fits', feasibleNodes: 0 }],
  ])('shows what a waiting job waits for with times as ISO strings (%o)', (waitingFor, shown) => {
    const view = explanationView(
      anExplanation('j1', { outcome: 'waiting', chosen: [], waitingFor }),
      T0,
      () => null,
    );
    expect(JobExplanationSchema.parse(view)).toEqual(view);
    expect(view.waitingFor).toEqual(shown);
  });

  it('says plainly when nothing is retained', () => {
    const view = notRetained('j9', 'it ended');
    expect(JobExplanationSchema.parse(view)).toEqual({
      jobId: 'j9',
      retained: false,
      why: 'no explanation retained: it ended',
    });
  });
});

describe('PlacedExplanations', () => {
  it('keeps the last N placements, forgetting the least recently placed first', () => {
    const placed = new PlacedExplanations(2);
    placed.remember(anExplanation('a'), T0);
    placed.remember(anExplanation('b'), T0 + 1);
    placed.remember(anExplanation('a'), T0 + 2); // placed again: the most recent now
    placed.remember(anExplanation('c'), T0 + 3);
    expect(placed.size).toBe(2);
    expect(placed.get('b')).toBeUndefined();
    expect(placed.get('a')?.decidedAt).toBe(T0 + 2);
    expect(placed.get('c')?.decidedAt).toBe(T0 + 3);
  });

  it('also keeps the node entries in all under a bound, so large pools cannot grow it', () => {
    // Each explanation here weighs 1 + 1 candidate + 2 filtered = 4 node entries.
    const placed = new PlacedExplanations(100, 9);
    for (const jobId of ['a', 'b', 'c']) placed.remember(anExplanation(jobId), T0);
    expect(placed.size).toBe(2);
    expect(placed.get('a')).toBeUndefined();
    expect(placed.get('c')).toBeDefined();
  });
});
