import {
  affinityFor,
  affinityKey,
  decayedAffinity,
  foldAffinity,
  type AffinityTable,
} from './affinity';

const T0 = Date.parse('2026-11-23T12:00:00.000Z');
const DAY = 24 * 3_600_000;

describe('learned affinity', () => {
  const empty: AffinityTable = new Map();

  it('rises on success and falls on failure, staying inside [-1, 1]', () => {
    let table = empty;
    for (let i = 0; i < 50; i += 1) {
      table = foldAffinity(table, { nodeId: 'n1', labels: ['train'], success: true, at: T0 });
    }
    const high = affinityFor(table, 'n1', ['train'], T0);
    expect(high).toBeGreaterThan(0.99);
    expect(high).toBeLessThanOrEqual(1);
    for (let i = 0; i < 50; i += 1) {
      table = foldAffinity(table, { nodeId: 'n1', labels: ['train'], success: false, at: T0 });
    }
    const low = affinityFor(table, 'n1', ['train'], T0);
    expect(low).toBeLessThan(-0.99);
    expect(low).toBeGreaterThanOrEqual(-1);
  });

  it('decays by half per half-life', () => {
    const table = foldAffinity(empty, { nodeId: 'n1', labels: ['x'], success: true, at: T0 });
    const v0 = decayedAffinity(table.get(affinityKey('n1', 'x')), T0);
    expect(v0).toBeCloseTo(0.2);
    expect(decayedAffinity(table.get(affinityKey('n1', 'x')), T0 + DAY)).toBeCloseTo(0.1);
    expect(decayedAffinity(table.get(affinityKey('n1', 'x')), T0 + 2 * DAY)).toBeCloseTo(0.05);
  });

  it('is per node and per label, and does not mutate its input', () => {
    const table = foldAffinity(empty, { nodeId: 'n1', labels: ['a'], success: false, at: T0 });
    expect(empty.size).toBe(0);
    expect(affinityFor(table, 'n2', ['a'], T0)).toBe(0);
    expect(affinityFor(table, 'n1', ['b'], T0)).toBe(0);
    expect(affinityFor(table, 'n1', ['a', 'b'], T0)).toBeCloseTo(-0.1);
    expect(affinityFor(table, 'n1', [], T0)).toBe(0);
  });

  it('applies decay before the step: an old failure weighs less than a new one', () => {
    const old = foldAffinity(empty, { nodeId: 'n1', labels: ['a'], success: false, at: T0 });
    const later = foldAffinity(old, {
      nodeId: 'n1',
      labels: ['a'],
      success: true,
      at: T0 + 10 * DAY,
    });
    expect(affinityFor(later, 'n1', ['a'], T0 + 10 * DAY)).toBeGreaterThan(0.19);
  });
});
