import { ErrorCodes, GantryError } from '@gantry/contracts';
import { aJob, commandsFor, NOW, anOutput, holding } from '../../test/job.builders';
import { evolve, type SubmittedJob } from './job.aggregate';
import { decide } from './job.decide';
import { checkReportedOutputs } from './reported-outputs';

/** D4: every rank's outputs, one set of names per attempt. */
const c = commandsFor('j-1');

const model = anOutput('model.bin', 'a');
const shard1 = anOutput('rank1-shard.bin', 'b');
/** Rank 0 wrote a file named like rank 1's. */
const impostor = anOutput('rank1-shard.bin', 'c');

const running = (nodes: number) =>
  aJob().withNodes(nodes).submitted().admitted().queued().leased().started();

const refusalOf = (run: () => unknown): GantryError => {
  try {
    run();
  } catch (err) {
    if (err instanceof GantryError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
};

describe('checkReportedOutputs', () => {
  it('commits the outputs of every rank of the gang together with the success', () => {
    const given = running(2).rankExited(0, 0, [model]);

    const events = decide(
      given.state(),
      c.exit(1, 1, 0, 0.5, 'exited', [shard1]),
      NOW,
      holding(shard1),
    );

    expect(events.map((e) => e.type)).toEqual(['RankExited', 'OutputsCommitted', 'JobSucceeded']);
    expect(events[1]).toMatchObject({ data: { outputs: [model, shard1] } });
  });

  it('keeps the outputs of a rank > 0 that exits first pending until the gang succeeds', () => {
    const given = running(2);
    const first = decide(
      given.state(),
      c.exit(1, 1, 0, 0.5, 'exited', [shard1]),
      NOW,
      holding(shard1),
    );
    expect(first.map((e) => e.type)).toEqual(['RankExited']);

    const state = first.reduce(evolve, given.state()) as SubmittedJob;
    const last = decide(state, c.exit(1, 0, 0, 0.5, 'exited', [model]), NOW, holding(model));
    expect(last[1]).toMatchObject({
      type: 'OutputsCommitted',
      data: { outputs: [shard1, model] },
    });
  });

  it('refuses a report whose names another rank of the attempt already reported', () => {
    const given = running(2).rankExited(0, 0, [model, impostor]);

    const refusal = refusalOf(() =>
      decide(given.state(), c.exit(1, 1, 0, 0.5, 'exited', [shard1]), NOW, holding(shard1)),
    );

    expect(refusal.code).toBe(ErrorCodes.VALIDATION_FAILED);
    expect(refusal.message).toContain('rank1-shard.bin');
    expect(refusal.details).toMatchObject({ rank: 1, conflicts: ['rank1-shard.bin'] });
  });

  it('looks only at the live attempt: names a failed attempt reported do not clash', () => {
    const given = running(2).rankExited(0, 0, [impostor]).retried().leased().started();

    expect(() =>
      checkReportedOutputs(given.state() as SubmittedJob, {
        rank: 1,
        exitCode: 0,
        outputs: [shard1],
      }),
    ).not.toThrow();
  });

  it.each([
    ['a failed rank 0', 0],
    ['a failed rank 1', 1],
  ])('refuses outputs reported by %s', (_case, rank) => {
    const refusal = refusalOf(() =>
      checkReportedOutputs(running(2).state() as SubmittedJob, {
        rank,
        exitCode: 3,
        outputs: [model],
      }),
    );
    expect(refusal.code).toBe(ErrorCodes.VALIDATION_FAILED);
    expect(refusal.message).toContain('only a clean exit reports outputs');
  });

  it('has nothing to say about a report without outputs, whatever the exit', () => {
    const given = running(2).rankExited(0, 0, [model]).state() as SubmittedJob;
    expect(() => checkReportedOutputs(given, { rank: 1, exitCode: 3, outputs: [] })).not.toThrow();
  });
});
