import { ErrorCodes, type NodeEvent } from '@gantry/contracts';
import {
  NO_FAILURES,
  decideNode,
  evolveNode,
  foldNode,
  isProbeDue,
  isSchedulable,
  mayQuarantine,
  type PoolStanding,
  recordAttempt,
  warrantsQuarantine,
  type NodeStanding,
  type NodeStandingCommand,
} from './node.aggregate';

/** The node's standing as "given events, when command, then events (or error code)". */
const NOW = new Date('2026-12-07T10:00:00.000Z');
const T0 = '2026-12-07T09:00:00.000Z';
const PROBE_MS = 60_000;

const enrolled: NodeEvent = {
  type: 'NodeEnrolled',
  data: {
    nodeId: 'n1',
    pools: ['cpu'],
    labels: {},
    capacity: { cpu: 4, memoryMiB: 4_096, gpu: 0 },
    hostname: 'n1.local',
    enrolledAt: T0,
  },
};
const cordoned: NodeEvent = {
  type: 'NodeCordoned',
  data: { nodeId: 'n1', reason: 'kernel update', cordonedAt: T0 },
};
const draining: NodeEvent = {
  type: 'NodeDrainStarted',
  data: { nodeId: 'n1', reason: 'retire', drainStartedAt: T0 },
};
const quarantined: NodeEvent = {
  type: 'NodeQuarantined',
  data: {
    nodeId: 'n1',
    consecutiveFailures: 3,
    failedJobs: ['a', 'b', 'c'],
    quarantinedAt: T0,
    probeAfter: '2026-12-07T09:05:00.000Z',
  },
};

const given = (...events: NodeEvent[]): NodeStanding => foldNode('n1', events);
const when = (state: NodeStanding, command: NodeStandingCommand) =>
  decideNode(state, command, NOW).map((e) => e.type);

describe('node standing: decide', () => {
  it.each<[string, NodeEvent[], NodeStandingCommand, string[]]>([
    [
      'cordons a schedulable node',
      [enrolled],
      { type: 'CordonNode', reason: '' },
      ['NodeCordoned'],
    ],
    ['cordons once', [enrolled, cordoned], { type: 'CordonNode', reason: '' }, []],
    [
      'drains a cordoned node',
      [enrolled, cordoned],
      { type: 'DrainNode', reason: '' },
      ['NodeDrainStarted'],
    ],
    ['drains once', [enrolled, draining], { type: 'DrainNode', reason: '' }, []],
    [
      'uncordons a cordoned node',
      [enrolled, cordoned],
      { type: 'UncordonNode' },
      ['NodeUncordoned'],
    ],
    ['uncordon ends a drain', [enrolled, draining], { type: 'UncordonNode' }, ['NodeUncordoned']],
    ['does not uncordon a schedulable node', [enrolled], { type: 'UncordonNode' }, []],
    [
      'marks a draining node drained when nothing runs',
      [enrolled, draining],
      { type: 'MarkDrained', runningLeases: 0 },
      ['NodeDrained'],
    ],
    [
      'keeps draining while work runs',
      [enrolled, draining],
      { type: 'MarkDrained', runningLeases: 1 },
      [],
    ],
    [
      'does not drain a node not draining',
      [enrolled, cordoned],
      { type: 'MarkDrained', runningLeases: 0 },
      [],
    ],
    [
      'quarantines',
      [enrolled],
      {
        type: 'QuarantineNode',
        consecutiveFailures: 3,
        failedJobs: ['a', 'b', 'c'],
        probeDelayMs: PROBE_MS,
      },
      ['NodeQuarantined'],
    ],
    [
      'quarantines once',
      [enrolled, quarantined],
      { type: 'QuarantineNode', consecutiveFailures: 4, failedJobs: ['d'], probeDelayMs: PROBE_MS },
      [],
    ],
    [
      'an admin clears a quarantine',
      [enrolled, quarantined],
      { type: 'ClearNode' },
      ['NodeQuarantineCleared'],
    ],
    ['clearing a healthy node changes nothing', [enrolled], { type: 'ClearNode' }, []],
    [
      'a passed probe clears',
      [enrolled, quarantined],
      { type: 'RecordProbe', jobId: 'p', passed: true, probeDelayMs: PROBE_MS },
      ['NodeQuarantineCleared'],
    ],
    [
      'a failed probe waits again',
      [enrolled, quarantined],
      { type: 'RecordProbe', jobId: 'p', passed: false, probeDelayMs: PROBE_MS },
      ['NodeProbeFailed'],
    ],
    [
      'a probe on a healthy node records nothing',
      [enrolled],
      { type: 'RecordProbe', jobId: 'p', passed: false, probeDelayMs: PROBE_MS },
      [],
    ],
  ])('%s', (_name, history, command, expected) => {
    expect(when(given(...history), command)).toEqual(expected);
  });

  it('refuses any command for a node that never enrolled, with NOT_FOUND', () => {
    expect(() => decideNode(given(), { type: 'CordonNode', reason: '' }, NOW)).toThrow(
      expect.objectContaining({ code: ErrorCodes.NOT_FOUND }),
    );
  });

  it('a cleared quarantine is by the admin; a probe names its job', () => {
    const [byAdmin] = decideNode(given(enrolled, quarantined), { type: 'ClearNode' }, NOW);
    expect(byAdmin!.data).toMatchObject({ by: 'admin', probeJobId: null });
    const [byProbe] = decideNode(
      given(enrolled, quarantined),
      { type: 'RecordProbe', jobId: 'p1', passed: true, probeDelayMs: PROBE_MS },
      NOW,
    );
    expect(byProbe!.data).toMatchObject({ by: 'probe', probeJobId: 'p1' });
  });
});

describe('node standing: evolve', () => {
  it('takes new leases only enrolled, uncordoned and unquarantined', () => {
    expect(isSchedulable(given())).toBe(false);
    expect(isSchedulable(given(enrolled))).toBe(true);
    expect(isSchedulable(given(enrolled, cordoned))).toBe(false);
    expect(isSchedulable(given(enrolled, draining))).toBe(false);
    expect(isSchedulable(given(enrolled, quarantined))).toBe(false);
    const back = decideNode(given(enrolled, draining), { type: 'UncordonNode' }, NOW);
    expect(isSchedulable(back.reduce(evolveNode, given(enrolled, draining)))).toBe(true);
  });

  it('a drain is a cordon plus draining, until uncordoned', () => {
    const state = given(enrolled, draining);
    expect(state).toMatchObject({ cordoned: true, draining: true, drained: false });
    const drained = evolveNode(state, {
      type: 'NodeDrained',
      data: { nodeId: 'n1', drainedAt: T0 },
    });
    expect(drained).toMatchObject({ cordoned: true, draining: true, drained: true });
  });

  it('an uncordon leaves a quarantine in place, and a clear leaves a cordon', () => {
    const both = given(enrolled, cordoned, quarantined);
    const uncordoned = decideNode(both, { type: 'UncordonNode' }, NOW).reduce(evolveNode, both);
    expect(uncordoned).toMatchObject({ cordoned: false, quarantined: true });
    const cleared = decideNode(both, { type: 'ClearNode' }, NOW).reduce(evolveNode, both);
    expect(cleared).toMatchObject({ cordoned: true, quarantined: false });
  });

  it('a quarantined node is due a probe from probeAfter, and a failed probe moves it on', () => {
    const state = given(enrolled, quarantined);
    expect(isProbeDue(state, Date.parse('2026-12-07T09:04:59.999Z'))).toBe(false);
    expect(isProbeDue(state, Date.parse('2026-12-07T09:05:00.000Z'))).toBe(true);
    const failed = decideNode(
      state,
      { type: 'RecordProbe', jobId: 'p', passed: false, probeDelayMs: PROBE_MS },
      NOW,
    ).reduce(evolveNode, state);
    expect(failed.probeAfter).toBe(NOW.getTime() + PROBE_MS);
    expect(isProbeDue(failed, NOW.getTime())).toBe(false);
    // A cordoned node takes no probe either: the admin's word stands.
    expect(isProbeDue(given(enrolled, cordoned, quarantined), NOW.getTime())).toBe(false);
  });
});

describe('failure streaks', () => {
  const fail = (jobId: string) => ({ jobId, succeeded: false });

  it('quarantines after three failures in a row from at least two jobs', () => {
    let streak = NO_FAILURES;
    for (const jobId of ['a', 'b']) streak = recordAttempt(streak, fail(jobId));
    expect(warrantsQuarantine(streak)).toBe(false);
    streak = recordAttempt(streak, fail('c'));
    expect(warrantsQuarantine(streak)).toBe(true);
  });

  it('one job failing over and over on the node is not enough', () => {
    let streak = NO_FAILURES;
    for (let i = 0; i < 5; i += 1) streak = recordAttempt(streak, fail('same'));
    expect(warrantsQuarantine(streak)).toBe(false);
  });

  it('a success ends the streak', () => {
    let streak = recordAttempt(recordAttempt(NO_FAILURES, fail('a')), fail('b'));
    streak = recordAttempt(streak, { jobId: 'c', succeeded: true });
    streak = recordAttempt(streak, fail('d'));
    expect(streak).toEqual({ failures: 1, jobs: ['d'] });
    expect(warrantsQuarantine(streak)).toBe(false);
  });

  it.each<[string, PoolStanding[], boolean]>([
    ['one of two', [{ nodes: 2, quarantined: 0, inService: 2 }], true],
    ['a second of two', [{ nodes: 2, quarantined: 1, inService: 1 }], false],
    ['the only node of a pool', [{ nodes: 1, quarantined: 0, inService: 1 }], false],
    ['one of three', [{ nodes: 3, quarantined: 0, inService: 3 }], true],
    ['a second of three', [{ nodes: 3, quarantined: 1, inService: 2 }], false],
    // The 400-job chaos run's bug: the quarantined node's agent restarting freed its place.
    [
      'a second of three while the first is lost',
      [{ nodes: 3, quarantined: 1, inService: 2 }],
      false,
    ],
    ['one of three while another is lost', [{ nodes: 3, quarantined: 0, inService: 2 }], false],
    ['one of four while another is lost', [{ nodes: 4, quarantined: 0, inService: 3 }], true],
    [
      'a node also in a small pool',
      [
        { nodes: 10, quarantined: 0, inService: 10 },
        { nodes: 1, quarantined: 0, inService: 1 },
      ],
      false,
    ],
  ])(
    'quarantines at most half of every pool, and keeps half in service: %s',
    (_name, pools, allowed) => {
      expect(mayQuarantine(pools)).toBe(allowed);
    },
  );
});
