import { type LeaseOffer } from '@gantry/contracts';
import {
  FinishedRanks,
  backoffMs,
  isFenced,
  killTargets,
  rankKey,
  reconcile,
  reportedExitCode,
  supersededBy,
  type LocalRank,
} from './lease-decisions';

const anOffer = (jobId: string, leaseEpoch: number, rank = 0): LeaseOffer => ({
  tenant: 'acme',
  jobId,
  attempt: 1,
  leaseEpoch,
  rank,
  worldSize: 2,
  hosts: ['n1', 'n2'],
  coordinator: 'n1:29500',
  leaseExpiresAt: '2026-01-01T00:00:30Z',
  command: ['true'],
  env: {},
  resources: { cpu: 1, memoryMiB: 64, gpu: 0 } as LeaseOffer['resources'],
  runtime: 'shell',
  inputs: [],
});

const local = (jobId: string, leaseEpoch: number, rank = 0, acceptedAt = 100): LocalRank => ({
  jobId,
  leaseEpoch,
  rank,
  acceptedAt,
});

const decide = (overrides: Partial<Parameters<typeof reconcile>[0]>) =>
  reconcile({
    leases: [],
    local: [],
    finished: new Set(),
    highestEpoch: new Map(),
    heartbeatSentAt: 1_000,
    ...overrides,
  });

describe('reconcile', () => {
  it('starts every listed rank that neither runs nor ran here', () => {
    const decision = decide({
      leases: [anOffer('a', 1, 0), anOffer('b', 2, 1), anOffer('c', 1, 0)],
      local: [local('a', 1, 0)],
      finished: new Set([rankKey({ jobId: 'c', leaseEpoch: 1, rank: 0 })]),
    });
    expect(decision.start.map(rankKey)).toEqual(['b:2:1']);
    expect(decision.kill).toEqual([]);
  });

  it('kills local ranks whose (job, epoch) the lease set does not list', () => {
    const decision = decide({
      leases: [anOffer('a', 2, 0)],
      local: [local('a', 1, 0), local('b', 1, 3), local('a', 2, 0)],
    });
    expect(decision.kill.map(rankKey)).toEqual(['a:1:0', 'b:1:3']);
  });

  it('keeps a rank of a listed lease even when that rank is not the one listed', () => {
    const decision = decide({ leases: [anOffer('a', 1, 0)], local: [local('a', 1, 1)] });
    expect(decision.kill).toEqual([]);
  });

  it('spares a rank taken on after the heartbeat left: the reply could not know it', () => {
    const decision = decide({
      leases: [],
      local: [local('a', 1, 0, 1_001)],
      heartbeatSentAt: 1_000,
    });
    expect(decision.kill).toEqual([]);
  });

  it('does not start a listed lease older than an epoch seen for its job', () => {
    const decision = decide({ leases: [anOffer('a', 1)], highestEpoch: new Map([['a', 2]]) });
    expect(decision.start).toEqual([]);
  });

  it('starts a duplicated lease once', () => {
    expect(decide({ leases: [anOffer('a', 1), anOffer('a', 1)] }).start).toHaveLength(1);
  });
});

describe('the epoch rule', () => {
  const highest = new Map([['a', 3]]);
  it.each([
    ['older epoch', 'a', 2, true],
    ['same epoch', 'a', 3, false],
    ['newer epoch', 'a', 4, false],
    ['unknown job', 'b', 1, false],
  ])('%s is fenced: %s', (_name, jobId, epoch, fenced) => {
    expect(isFenced(highest, jobId, epoch)).toBe(fenced);
  });

  it('a newer epoch supersedes the older local ranks of its job only', () => {
    const ranks = [local('a', 1, 0), local('a', 2, 1), local('b', 1, 0)];
    expect(supersededBy(ranks, 'a', 2).map(rankKey)).toEqual(['a:1:0']);
  });

  it('a kill reaches its job at its epoch or older', () => {
    const ranks = [local('a', 1, 0), local('a', 2, 1), local('a', 3, 0), local('b', 2, 0)];
    expect(killTargets(ranks, 'a', 2).map(rankKey)).toEqual(['a:1:0', 'a:2:1']);
  });
});

describe('FinishedRanks', () => {
  it('remembers a finished rank for the retention, then forgets it', () => {
    let now = 0;
    const finished = new FinishedRanks(() => now, 1_000);
    finished.add({ jobId: 'a', leaseEpoch: 1, rank: 0 });
    now = 999;
    expect(finished.has({ jobId: 'a', leaseEpoch: 1, rank: 0 })).toBe(true);
    expect(finished.has({ jobId: 'a', leaseEpoch: 2, rank: 0 })).toBe(false);
    now = 1_000;
    expect(finished.has({ jobId: 'a', leaseEpoch: 1, rank: 0 })).toBe(false);
  });
});

describe('reportedExitCode', () => {
  it.each([
    ['a clean exit', { exitCode: 0, signal: null, reason: 'exited' }, 0],
    ['an exit code', { exitCode: 3, signal: null, reason: 'exited' }, 3],
    ['SIGTERM', { exitCode: null, signal: 'SIGTERM', reason: 'killed' }, 143],
    ['SIGKILL', { exitCode: null, signal: 'SIGKILL', reason: 'killed' }, 137],
    [
      'a command that could not start',
      { exitCode: null, signal: null, reason: 'spawn-failed' },
      127,
    ],
    ['no code and no signal', { exitCode: null, signal: null, reason: 'exited' }, 1],
  ] as const)('%s reports %s', (_name, end, code) => {
    expect(reportedExitCode(end)).toBe(code);
  });
});

describe('backoffMs', () => {
  it('doubles up to the cap, scaled by the random draw', () => {
    expect([1, 2, 3, 10].map((n) => backoffMs(n, () => 0.5, 100, 1_000))).toEqual([
      50, 100, 200, 500,
    ]);
    expect(backoffMs(5, () => 0, 100, 1_000)).toBe(0);
  });
});
