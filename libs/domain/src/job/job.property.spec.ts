import fc from 'fast-check';
import { eventRegistry, isGantryError, type JobCommand, type JobEvent } from '@gantry/contracts';
import { aJob, commandsFor, nodesOf, T0 } from '../../test/job.builders';
import {
  evolve,
  foldJob,
  holdsLease,
  isLegalTransition,
  isTerminal,
  type JobState,
} from './job.aggregate';
import { decide } from './job.decide';

/**
 * Whatever a caller sends, in whatever order: every command decide accepts moves the job only
 * along legalTransitions, never out of a terminal state, keeps the lease live exactly while the
 * job holds nodes, emits only events the registry accepts, and folding what it emitted gives
 * back the state the decisions ran against (replay).
 */
type Kind =
  | 'submit'
  | 'admit'
  | 'reject'
  | 'block'
  | 'queue'
  | 'hold'
  | 'release'
  | 'lease'
  | 'stage'
  | 'start'
  | 'exit'
  | 'nodeLost'
  | 'expire'
  | 'cancel'
  | 'preempt';

/** Weighted towards progress, so that runs get past admission and into the attempt's corners. */
const KINDS: readonly Kind[] = [
  ...(['admit', 'admit', 'queue', 'queue', 'queue', 'lease', 'lease', 'lease'] as const),
  ...([
    'stage',
    'start',
    'start',
    'start',
    'exit',
    'exit',
    'exit',
    'exit',
    'exit',
    'exit',
  ] as const),
  ...([
    'submit',
    'reject',
    'block',
    'hold',
    'release',
    'release',
    'nodeLost',
    'expire',
    'cancel',
    'preempt',
  ] as const),
];

const step = fc.record({
  kind: fc.constantFrom(...KINDS),
  epochDelta: fc.constantFrom(-1, 0, 0, 0, 0, 0, 0, 0, 1),
  rank: fc.integer({ min: 0, max: 7 }),
  exitCode: fc.constantFrom(0, 0, 0, 0, 1, 42, 137),
  jitter: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  advanceSeconds: fc.integer({ min: 0, max: 400 }),
  wrongGang: fc.boolean(),
});

type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

const c = commandsFor('j-1');

const commandFor = (s: Step, state: JobState, nodes: number, now: number): JobCommand => {
  const epoch = (state.state === 'NONE' ? 0 : state.leaseEpoch) + s.epochDelta;
  // Mostly a rank of the gang, sometimes (1 in 8) one outside it.
  const rank = s.rank === 7 ? nodes : s.rank % nodes;
  switch (s.kind) {
    case 'submit':
      return c.submit(aJob().withNodes(nodes).spec, 'key-1');
    case 'admit':
      return c.admit();
    case 'reject':
      return c.reject();
    case 'block':
      return c.block();
    case 'queue':
      return c.queue();
    case 'hold':
      return c.hold();
    case 'release':
      return c.release();
    case 'lease':
      return c.lease(
        Math.max(1, epoch + 1),
        nodesOf(s.wrongGang ? nodes + 1 : nodes),
        new Date(now + 30_000).toISOString(),
      );
    case 'stage':
      return c.stage(Math.max(1, epoch));
    case 'start':
      return c.start(Math.max(1, epoch));
    case 'exit':
      return c.exit(Math.max(1, epoch), rank, s.exitCode, s.jitter);
    case 'nodeLost':
      return c.nodeLost(Math.max(1, epoch), `node-${rank}`, s.jitter);
    case 'expire':
      return c.expire(Math.max(1, epoch), s.jitter);
    case 'cancel':
      return c.cancel();
    case 'preempt':
      return c.preempt(Math.max(1, epoch));
    default: {
      const unknownKind: never = s.kind;
      throw new Error(`no command for ${String(unknownKind)}`);
    }
  }
};

/** Runs the property; returns every state the accepted events reached. */
const checkDecisions = (parameters: fc.Parameters<[number, number, Step[]]>): Set<string> => {
  const reached = new Set<string>();
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 4 }),
      fc.array(step, { minLength: 10, maxLength: 80, size: 'max' }),
      (nodes, maxAttempts, steps) => {
        const identity = { tenant: 'acme', jobId: 'j-1' };
        let state: JobState = foldJob(identity, [
          ...aJob()
            .withNodes(nodes)
            .withRetry({ maxAttempts, nonRetryableExitCodes: [42] })
            .submitted('key-1')
            .events(),
        ]);
        const accepted: JobEvent[] = [
          ...aJob()
            .withNodes(nodes)
            .withRetry({ maxAttempts, nonRetryableExitCodes: [42] })
            .submitted('key-1')
            .events(),
        ];
        let now = T0 + 1_000_000;
        for (const s of steps) {
          now += s.advanceSeconds * 1_000;
          const command = commandFor(s, state, nodes, now);
          let events: JobEvent[];
          try {
            events = decide(state, command, new Date(now));
          } catch (err) {
            if (!isGantryError(err)) throw err; // a refusal must be a coded GantryError
            continue;
          }
          for (const event of events) {
            expect(() => eventRegistry.validateData(event.type, event.data)).not.toThrow();
            const next = evolve(state, event);
            if (next.state !== state.state) {
              expect({
                from: state.state,
                to: next.state,
                legal: next.state !== 'NONE' && isLegalTransition(state.state, next.state),
              }).toEqual({
                from: state.state,
                to: next.state,
                legal: true,
              });
            }
            if (isTerminal(state.state)) expect(next.state).toBe(state.state);
            state = next;
            reached.add(state.state);
          }
          accepted.push(...events);
          if (state.state !== 'NONE') {
            expect(state.leaseActive).toBe(holdsLease(state.state));
            // Preempted attempts are not charged to the retry budget (C6).
            expect(state.attempt - state.preemptions).toBeLessThanOrEqual(maxAttempts);
          }
        }
        expect(foldJob(identity, accepted)).toEqual(state);
      },
    ),
    parameters,
  );
  return reached;
};

it('accepted commands only ever make legal transitions, and replaying their events rebuilds the state', () => {
  checkDecisions({ numRuns: 500 });
});

/**
 * The property says little unless the generator reaches the attempt's corners. Checked on a
 * fixed seed, so that this check cannot flake; the property above explores a new seed each run.
 */
it('the generator reaches every outcome of an attempt', () => {
  const reached = checkDecisions({ numRuns: 500, seed: 20261101 });
  for (const s of [
    'RUNNING',
    'SUCCEEDED',
    'FAILED',
    'DEAD_LETTER',
    'CANCELLED',
    'HELD',
    'BLOCKED',
  ]) {
    expect(reached).toContain(s);
  }
});
