import { estimateStarts } from './estimate';
import { schedulePass, type SnapshotInput } from './core';
import { job, node, res, T0 } from './test-fixtures';
import { type RunningAllocation } from './types';

const config = { seed: 7 };
const LIMITS = { maxPasses: 1_000, horizonMs: 7 * 24 * 3_600_000 };
const MINUTE = 60_000;

const running = (jobId: string, nodeId: string, endsIn: number, cpu = 4): RunningAllocation => ({
  jobId,
  tenant: 'other',
  pool: 'cpu',
  nodes: [nodeId],
  resources: res(cpu, 0),
  startedAt: T0 - MINUTE,
  expectedEnd: T0 + endsIn,
});

const snapshot = (overrides: Partial<SnapshotInput>): SnapshotInput => ({
  nodes: [node('n1', { capacity: res(4, 8_192) })],
  jobs: [],
  running: [],
  now: T0,
  config,
  ...overrides,
});

describe('estimateStarts', () => {
  it('a job that fits now starts now', () => {
    expect(estimateStarts(snapshot({ jobs: [job('a')] }), LIMITS)).toEqual(new Map([['a', T0]]));
  });

  it('a job behind running work starts when that work is expected to end', () => {
    const input = snapshot({
      nodes: [node('n1', { capacity: res(4, 8_192), used: res(4, 0) })],
      running: [running('r', 'n1', 10 * MINUTE)],
      jobs: [job('a', { resources: res(2) })],
    });
    expect(estimateStarts(input, LIMITS).get('a')).toBe(T0 + 10 * MINUTE);
  });

  it('queued jobs follow each other by their expected runtimes, in queue order', () => {
    const input = snapshot({
      jobs: [
        job('first', { resources: res(4), expectedRuntimeSeconds: 300, enqueuedAt: T0 - 2 }),
        job('second', { resources: res(4), expectedRuntimeSeconds: 60, enqueuedAt: T0 - 1 }),
        job('third', { resources: res(4), expectedRuntimeSeconds: null, enqueuedAt: T0 }),
        job('fourth', { resources: res(4), enqueuedAt: T0 + 1 }),
      ],
    });
    const starts = estimateStarts(input, LIMITS);
    expect(starts.get('first')).toBe(T0);
    expect(starts.get('second')).toBe(T0 + 300_000);
    expect(starts.get('third')).toBe(T0 + 360_000);
    // Unknown runtime: the default hour.
    expect(starts.get('fourth')).toBe(T0 + 360_000 + 3_600_000);
  });

  it('gives no estimate to a job that can never fit, or beyond its limits', () => {
    const input = snapshot({
      jobs: [
        job('huge', { resources: res(64) }),
        job('a', { resources: res(4), expectedRuntimeSeconds: 600, enqueuedAt: T0 - 2 }),
        job('b', { resources: res(4), expectedRuntimeSeconds: 600, enqueuedAt: T0 - 1 }),
      ],
    });
    expect([...estimateStarts(input, LIMITS).keys()].sort()).toEqual(['a', 'b']);
    expect([
      ...estimateStarts(input, { maxPasses: 1, horizonMs: LIMITS.horizonMs }).keys(),
    ]).toEqual(['a']);
    expect([...estimateStarts(input, { maxPasses: 10, horizonMs: 60_000 }).keys()]).toEqual(['a']);
  });

  it('waits out a retry backoff', () => {
    const input = snapshot({ jobs: [job('a', { notBefore: T0 + 5 * MINUTE })] });
    expect(estimateStarts(input, LIMITS).get('a')).toBe(T0 + 5 * MINUTE);
  });

  it('agrees with a real pass on what starts now', () => {
    const input = snapshot({
      nodes: [node('n1'), node('n2'), node('n3', { capacity: res(2, 4_096) })],
      jobs: [
        job('g', { nodes: 2, resources: res(3) }),
        job('s1', { resources: res(2) }),
        job('s2', { resources: res(2) }),
        job('s3', { resources: res(2) }),
      ],
    });
    const now = schedulePass(input)
      .decisions.map((d) => d.jobId)
      .sort();
    const starts = estimateStarts(input, LIMITS);
    expect(
      [...starts]
        .filter(([, at]) => at === T0)
        .map(([id]) => id)
        .sort(),
    ).toEqual(now);
  });
});
