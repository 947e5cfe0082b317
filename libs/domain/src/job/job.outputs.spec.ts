import {
  ErrorCodes,
  isGantryError,
  type ErrorCode,
  type JobCommand,
  type JobEvent,
} from '@gantry/contracts';
import {
  aJob,
  commandsFor,
  NOW,
  type JobHistoryBuilder,
  anOutput,
  holding,
} from '../../test/job.builders';
import { evolve, isLegalInState, type SubmittedJob } from './job.aggregate';
import { decide, type DecisionFacts } from './job.decide';

/**
 * D4 outputs and D7 checkpoints: given events, when a worker-side report, then events or the
 * refusal's code. What the artifact store holds is a fact the caller hands to decide.
 */
const c = commandsFor('j-1');

const model = anOutput('model.bin', 'a');
const metrics = anOutput('metrics.json', 'b');
const ckpt = anOutput('step-100.ckpt', 'c');

const running = (nodes = 1) =>
  aJob().withNodes(nodes).submitted().admitted().queued().leased().started();

const when = (given: JobHistoryBuilder, command: JobCommand, facts: DecisionFacts = {}) =>
  decide(given.state(), command, NOW, facts);

const outcomeOf = (
  given: JobHistoryBuilder,
  command: JobCommand,
  facts: DecisionFacts = {},
): ErrorCode | 'accepted' => {
  try {
    when(given, command, facts);
    return 'accepted';
  } catch (err) {
    if (isGantryError(err)) return err.code;
    throw err;
  }
};

const types = (events: readonly JobEvent[]) => events.map((e) => e.type);

describe('D4: outputs commit with the success of the attempt that made them', () => {
  it('commits rank 0 outputs in the same append as the success, before it', () => {
    const events = when(
      running(),
      c.exit(1, 0, 0, 0.5, 'exited', [model, metrics]),
      holding(model, metrics),
    );

    expect(types(events)).toEqual(['RankExited', 'OutputsCommitted', 'JobSucceeded']);
    expect(events[1]).toMatchObject({
      data: { attempt: 1, leaseEpoch: 1, outputs: [model, metrics] },
    });
  });

  it('records no OutputsCommitted for a job that wrote no outputs', () => {
    expect(types(when(running(), c.exit(1, 0, 0)))).toEqual(['RankExited', 'JobSucceeded']);
  });

  it('holds the outputs of a rank 0 that exits first until the last rank of the gang succeeds', () => {
    const given = running(2);
    const first = when(given, c.exit(1, 0, 0, 0.5, 'exited', [model]), holding(model));
    expect(types(first)).toEqual(['RankExited']);

    const state = first.reduce(evolve, given.state()) as SubmittedJob;
    expect(state.outputs).toEqual([]);
    const last = decide(state, c.exit(1, 1, 0), NOW);
    expect(types(last)).toEqual(['RankExited', 'OutputsCommitted', 'JobSucceeded']);
    expect(last[1]).toMatchObject({ data: { outputs: [model] } });
  });

  it('never commits the outputs of an attempt another rank failed, nor carries them to the retry', () => {
    const given = running(2).rankExited(0, 0, [model]).retried().leased().started();

    const events = when(given, c.exit(2, 0, 0, 0.5, 'exited', [metrics]), holding(metrics));
    const last = decide(events.reduce(evolve, given.state()), c.exit(2, 1, 0), NOW);

    expect(last[1]).toMatchObject({
      type: 'OutputsCommitted',
      data: { attempt: 2, outputs: [metrics] },
    });
  });

  it('refuses the outputs of a zombie attempt (an old epoch), recording nothing', () => {
    const given = running().retried().leased().started();

    expect(outcomeOf(given, c.exit(1, 0, 0, 0.5, 'exited', [model]), holding(model))).toBe(
      ErrorCodes.LEASE_STALE_EPOCH,
    );
  });

  it('refuses a second commit: once the job succeeded, a repeated report is fenced', () => {
    const given = running().rankExited(0, 0, [model]).succeeded();

    expect(outcomeOf(given, c.exit(1, 0, 0, 0.5, 'exited', [model]), holding(model))).toBe(
      ErrorCodes.LEASE_STALE_EPOCH,
    );
  });

  it('answers a redelivered exit of a rank still waiting on the gang with nothing', () => {
    const given = running(2).rankExited(0, 0, [model]);

    expect(when(given, c.exit(1, 0, 0, 0.5, 'exited', [model]), holding(model))).toEqual([]);
  });

  it.each<[string, DecisionFacts]>([
    [
      'another digest',
      { storedFiles: new Map([[model.ref, { size: 3, sha256: 'f'.repeat(64) }]]) },
    ],
    ['another size', { storedFiles: new Map([[model.ref, { size: 4, sha256: model.sha256 }]]) }],
    ['nothing under the ref', holding(metrics)],
    ['no answer from the store at all', {}],
  ])('refuses an output when the store holds %s', (_case, facts) => {
    expect(outcomeOf(running(), c.exit(1, 0, 0, 0.5, 'exited', [model, metrics]), facts)).toBe(
      ErrorCodes.OUTPUT_DIGEST_MISMATCH,
    );
  });

  it.each([
    ['a failed rank 0', 0, 3],
    ['a failed rank 1', 1, 3],
  ])('refuses outputs reported by %s', (_case, rank, exitCode) => {
    expect(
      outcomeOf(running(2), c.exit(1, rank, exitCode, 0.5, 'exited', [model]), holding(model)),
    ).toBe(ErrorCodes.VALIDATION_FAILED);
  });
});

describe('D7: progress and checkpoints', () => {
  it('records progress of the running attempt, and a repeat of the same value as nothing', () => {
    expect(when(running(), c.progress(1, 0, 0.4))).toEqual([
      {
        type: 'JobProgressed',
        data: {
          jobId: 'j-1',
          attempt: 1,
          leaseEpoch: 1,
          progress: 0.4,
          progressedAt: NOW.toISOString(),
        },
      },
    ]);
    expect(when(running().progressed(0.4), c.progress(1, 0, 0.4))).toEqual([]);
  });

  it('records a checkpoint the store holds, and keeps it for the next attempt', () => {
    const given = running();
    const events = when(given, c.checkpoint(1, 0, ckpt), holding(ckpt));
    expect(types(events)).toEqual(['JobCheckpointed']);

    const afterRetry = aJob()
      .submitted()
      .admitted()
      .queued()
      .leased()
      .started()
      .checkpointed(ckpt)
      .retried()
      .leased();
    expect(afterRetry.state()).toMatchObject({ attempt: 2, checkpoint: { ...ckpt, attempt: 1 } });
  });

  it('answers a redelivered checkpoint with nothing', () => {
    expect(when(running().checkpointed(ckpt), c.checkpoint(1, 0, ckpt), holding(ckpt))).toEqual([]);
  });

  it.each<[string, JobHistoryBuilder, JobCommand, DecisionFacts, ErrorCode]>([
    [
      'progress from a zombie',
      running().retried().leased().started(),
      c.progress(1, 0, 0.5),
      {},
      ErrorCodes.LEASE_STALE_EPOCH,
    ],
    [
      'a checkpoint from a zombie',
      running().retried().leased().started(),
      c.checkpoint(1, 0, ckpt),
      holding(ckpt),
      ErrorCodes.LEASE_STALE_EPOCH,
    ],
    [
      'a checkpoint the store does not hold',
      running(),
      c.checkpoint(1, 0, ckpt),
      holding(model),
      ErrorCodes.OUTPUT_DIGEST_MISMATCH,
    ],
    [
      'progress before the attempt started',
      aJob().submitted().admitted().queued().leased(),
      c.progress(1, 0, 0.5),
      {},
      ErrorCodes.ILLEGAL_TRANSITION,
    ],
    [
      'progress of a rank outside the gang',
      running(),
      c.progress(1, 3, 0.5),
      {},
      ErrorCodes.VALIDATION_FAILED,
    ],
  ])('refuses %s', (_case, given, command, facts, code) => {
    expect(outcomeOf(given, command, facts)).toBe(code);
  });
});

describe('isLegalInState', () => {
  it.each([
    ['OutputsCommitted', 'RUNNING', true],
    ['OutputsCommitted', 'QUEUED', false],
    ['JobCheckpointed', 'RUNNING', true],
    ['JobProgressed', 'LEASED', false],
    ['JobProgressed', 'NONE', false],
    ['RankExited', 'LEASED', true],
  ] as const)('%s in %s: %s', (type, state, legal) => {
    expect(isLegalInState(state, type)).toBe(legal);
  });
});
