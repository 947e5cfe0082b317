import { type PostgresEventStore } from '@gantry/event-store';
import { NodeStandings } from './node-standings';

const standings = (): NodeStandings =>
  new NodeStandings({
    // The probe bookkeeping under test never reads or writes the store.
    store: {} as PostgresEventStore,
    clock: () => new Date('2026-12-07T12:00:00Z'),
    random: () => 0,
    probeDelayMs: 60_000,
  });

describe('a quarantined node probe', () => {
  it('counts as in flight while its job holds the node, and is forgotten once it does not', () => {
    const known = standings();
    known.markProbe('node-a', 'job-1');
    known.markProbe('node-b', 'job-2');
    known.pruneProbes((nodeId, jobId) => nodeId === 'node-a' && jobId === 'job-1');
    expect(known.isProbing('node-a')).toBe(true);
    // Its end was learnt of only from the store (a gap), never live: the node may be probed again.
    expect(known.isProbing('node-b')).toBe(false);
  });

  it("records the probe's verdict rather than counting it toward a new quarantine", () => {
    const known = standings();
    known.markProbe('node-a', 'job-1');
    expect(known.recordOutcome('node-a', 'job-1', false)).toMatchObject({
      type: 'RecordProbe',
      passed: false,
    });
    // Until the verdict is settled the node is still probing: no second probe meanwhile.
    expect(known.isProbing('node-a')).toBe(true);
    known.verdictSettled('node-a');
    expect(known.isProbing('node-a')).toBe(false);
  });

  it('quarantines on three failures in a row from two jobs, and a success ends the streak', () => {
    const known = standings();
    expect(known.recordOutcome('node-a', 'job-1', false)).toBeNull();
    expect(known.recordOutcome('node-a', 'job-1', false)).toBeNull();
    expect(known.recordOutcome('node-a', 'job-2', true)).toBeNull();
    expect(known.recordOutcome('node-a', 'job-1', false)).toBeNull();
    expect(known.recordOutcome('node-a', 'job-3', false)).toBeNull();
    expect(known.recordOutcome('node-a', 'job-1', false)).toMatchObject({
      type: 'QuarantineNode',
      consecutiveFailures: 3,
      failedJobs: ['job-1', 'job-3', 'job-1'],
    });
  });
});
