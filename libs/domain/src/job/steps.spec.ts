import {
  ErrorCodes,
  eventRegistry,
  isGantryError,
  JobSpecSchema,
  SubjectTokenSchema,
  type ErrorCode,
  type JobCommand,
  type JobEvent,
  type JobSpec,
  type OutputFile,
} from '@gantry/contracts';
import { aJob, childOf, commandsFor, NOW, type StepInput, anOutput } from '../../test/job.builders';
import {
  evolve,
  foldJob,
  isLegalInState,
  isLegalTransition,
  type JobState,
  type SubmittedJob,
} from './job.aggregate';
import { decide } from './job.decide';
import {
  childJobSpec,
  dependentsOf,
  initialSteps,
  readySteps,
  stepJobSpec,
  type StepStateName,
  type StepStatus,
} from './steps';

/**
 * Steps as a DAG inside a job (D5): the pure step logic, then the job's decisions about its steps
 * as "given events, when commands, then events (or the refusal's code)". Most cases use the
 * diamond a -> (b, c) -> d that the builders' `withSteps()` writes.
 */
const c = commandsFor('j-1');

const prepared = anOutput('clean.csv', 'a');
const trained = anOutput('model.bin', 'b');
const scored = anOutput('scores.json', 'c');

const submitted = (state: JobState): SubmittedJob => {
  if (state.state === 'NONE') throw new Error('the job was never submitted');
  return state;
};

/**
 * Decides each command on the state the ones before it left, as the controller would, checking
 * that every event is one the registry accepts and a legal move: the events of each command.
 */
const decideAll = (
  given: JobState,
  ...commands: readonly JobCommand[]
): { state: SubmittedJob; events: JobEvent[][] } => {
  let state = given;
  const events: JobEvent[][] = [];
  for (const command of commands) {
    const decided = decide(state, command, NOW);
    for (const event of decided) {
      expect(() => eventRegistry.validateData(event.type, event.data)).not.toThrow();
      const next = evolve(state, event);
      if (next.state !== state.state) {
        const legal = next.state !== 'NONE' && isLegalTransition(state.state, next.state);
        expect({ edge: `${state.state}->${next.state}`, legal }).toEqual({
          edge: `${state.state}->${next.state}`,
          legal: true,
        });
      } else expect(isLegalInState(state.state, event.type)).toBe(true);
      state = next;
    }
    events.push(decided);
  }
  return { state: submitted(state), events };
};

/** The events of the last of `commands`. */
const lastEvents = (given: JobState, ...commands: readonly JobCommand[]): JobEvent[] =>
  decideAll(given, ...commands).events.at(-1) ?? [];

const types = (events: readonly JobEvent[]): JobEvent['type'][] => events.map((e) => e.type);

const refusalOf = (given: JobState, command: JobCommand): ErrorCode | 'accepted' => {
  try {
    decide(given, command, NOW);
    return 'accepted';
  } catch (err) {
    if (isGantryError(err)) return err.code;
    throw err;
  }
};

/** Each step's state, by name. */
const standing = (state: JobState): Record<string, StepStateName> =>
  Object.fromEntries(submitted(state).steps.map((s) => [s.name, s.state]));

const names = (steps: readonly StepStatus[]): string[] => steps.map((s) => s.name);

/** The diamond, admitted and blocked on its steps. */
const diamond = () => aJob().withSteps().submitted().blockedOnSteps();

describe('readySteps and dependentsOf', () => {
  const steps = initialSteps(aJob().withSteps().spec);
  const withStates = (states: Partial<Record<string, StepStateName>>): StepStatus[] =>
    steps.map((s) => ({ ...s, state: states[s.name] ?? s.state }));

  it.each([
    ['nothing has run', ['a'], {}],
    ['a is running', [], { a: 'SUBMITTED' }],
    ['a succeeded', ['b', 'c'], { a: 'SUCCEEDED' }],
    ['a succeeded and b runs', ['c'], { a: 'SUCCEEDED', b: 'SUBMITTED' }],
    ['only one of the two steps d needs succeeded', ['c'], { a: 'SUCCEEDED', b: 'SUCCEEDED' }],
    ['b succeeded, c runs', [], { a: 'SUCCEEDED', b: 'SUCCEEDED', c: 'SUBMITTED' }],
    ['b and c succeeded', ['d'], { a: 'SUCCEEDED', b: 'SUCCEEDED', c: 'SUCCEEDED' }],
    ['b failed', [], { a: 'SUCCEEDED', b: 'FAILED', c: 'SUCCEEDED' }],
    ['a failed', [], { a: 'FAILED' }],
  ] as const)('when %s, the ready steps are %j', (_case, ready, states) => {
    expect(names(readySteps(withStates(states)))).toEqual(ready);
  });

  it('a step that is not waiting is never ready, whatever its dependencies', () => {
    const all = { a: 'SUCCEEDED', b: 'SUCCEEDED', c: 'SUCCEEDED' } as const;
    for (const d of ['SUBMITTED', 'SUCCEEDED', 'FAILED', 'SKIPPED'] as const)
      expect(names(readySteps(withStates({ ...all, d })))).toEqual([]);
  });

  it.each([
    [['a'], ['b', 'c', 'd']],
    [['b'], ['d']],
    [['c'], ['d']],
    [['b', 'c'], ['d']],
    [['d'], []],
  ])('the dependents of %j, direct or not, are %j', (of, dependents) => {
    expect([...dependentsOf(steps, of)].sort()).toEqual(dependents);
  });

  it('follows a chain to its end, and leaves steps off it alone', () => {
    const chain = initialSteps(
      aJob().withSteps([
        { name: 'one' },
        { name: 'two', dependsOn: ['one'] },
        { name: 'three', dependsOn: ['two'] },
        { name: 'four', dependsOn: ['three'] },
        { name: 'aside' },
        { name: 'after-aside', dependsOn: ['aside'] },
      ]).spec,
    );

    expect([...dependentsOf(chain, ['one'])].sort()).toEqual(['four', 'three', 'two']);
    expect([...dependentsOf(chain, ['three'])]).toEqual(['four']);
  });
});

describe("stepJobSpec: a step's child job", () => {
  const parentSpec = (steps: StepInput[], inputs: JobSpec['inputs'] = []): JobSpec =>
    JobSpecSchema.parse({
      name: 'train',
      command: ['python', 'main.py'],
      env: { SHARED: 'job', ONLY_JOB: '1' },
      nodes: 2,
      resources: { cpu: 2, memoryMiB: 1024 },
      pool: 'cpu',
      labels: { team: 'ml' },
      runtime: 'torchrun',
      priority: 300,
      expectedRuntimeSeconds: 600,
      maxRuntimeSeconds: 3_600,
      retry: { maxAttempts: 5 },
      inputs: [{ name: 'raw', ref: `file-${'d'.repeat(32)}` }, ...inputs],
      outputs: [{ name: 'report', path: 'out/report.txt' }],
      steps,
    });
  const spec = parentSpec([
    { name: 'prep', command: ['prep.sh'], env: { SHARED: 'step', ONLY_STEP: '2' } },
    {
      name: 'fit',
      dependsOn: ['prep'],
      nodes: 4,
      resources: { cpu: 8, memoryMiB: 8_192, gpu: 1 },
      pool: 'gpu',
      retry: { maxAttempts: 1 },
      maxRuntimeSeconds: 7_200,
    },
    { name: 'score', dependsOn: ['prep', 'fit'], maxRuntimeSeconds: 300 },
  ]);
  const stepNamed = (s: JobSpec, name: string) => s.steps.find((step) => step.name === name)!;
  const succeeded = (s: JobSpec, outputs: Record<string, OutputFile[]>): StepStatus[] =>
    initialSteps(s).map((step) =>
      outputs[step.name] ? { ...step, state: 'SUCCEEDED', outputs: outputs[step.name]! } : step,
    );

  it("inherits the job's spec, with the step's command and env merged over the job's", () => {
    const child = stepJobSpec('j-1', spec, stepNamed(spec, 'prep'), initialSteps(spec));

    expect(child).toEqual({
      name: 'train/prep',
      command: ['prep.sh'],
      env: { SHARED: 'step', ONLY_JOB: '1', ONLY_STEP: '2' },
      nodes: 2,
      resources: { cpu: 2, memoryMiB: 1024, gpu: 0 },
      pool: 'cpu',
      labels: { team: 'ml' },
      runtime: 'torchrun',
      priority: 300,
      expectedRuntimeSeconds: 600,
      maxRuntimeSeconds: 3_600,
      retry: spec.retry,
      inputs: spec.inputs,
      // A child runs no steps of its own, and leaves the job's declared outputs to the job.
      outputs: [],
      steps: [],
    });
    expect(JobSpecSchema.parse(child)).toEqual(child);
  });

  it("takes the step's overrides: gang, resources, pool, retry policy, runtime limit", () => {
    const child = stepJobSpec('j-1', spec, stepNamed(spec, 'fit'), succeeded(spec, { prep: [] }));

    expect(child).toMatchObject({
      name: 'train/fit',
      command: ['python', 'main.py'],
      env: { SHARED: 'job', ONLY_JOB: '1' },
      nodes: 4,
      resources: { cpu: 8, memoryMiB: 8_192, gpu: 1 },
      pool: 'gpu',
      expectedRuntimeSeconds: 600,
      maxRuntimeSeconds: 7_200,
      retry: { maxAttempts: 1, initialBackoffSeconds: 5 },
    });
    expect(spec.retry.maxAttempts).toBe(5);
  });

  it("leaves out the job's expected runtime when the step's limit is below it", () => {
    const child = stepJobSpec('j-1', spec, stepNamed(spec, 'score'), initialSteps(spec));

    expect(child.maxRuntimeSeconds).toBe(300);
    expect(child).not.toHaveProperty('expectedRuntimeSeconds');
    expect(() => JobSpecSchema.parse(child)).not.toThrow();
  });

  it('a job without a name names the child after the job id', () => {
    const { name: _name, ...unnamed } = spec;
    expect(
      stepJobSpec('j-7', unnamed as JobSpec, stepNamed(spec, 'prep'), initialSteps(spec)).name,
    ).toBe('j-7/prep');
  });

  it('gets the committed outputs of the steps it depends on as inputs, under steps/<dep>/<name>', () => {
    const steps = succeeded(spec, { prep: [prepared], fit: [trained, scored] });
    const child = stepJobSpec('j-1', spec, stepNamed(spec, 'score'), steps);

    expect(child.inputs).toEqual([
      ...spec.inputs,
      { name: 'prep-clean_csv', ref: prepared.ref, path: 'steps/prep/clean.csv' },
      { name: 'fit-model_bin', ref: trained.ref, path: 'steps/fit/model.bin' },
      { name: 'fit-scores_json', ref: scored.ref, path: 'steps/fit/scores.json' },
    ]);
  });

  it("gets only its own dependencies' outputs", () => {
    const steps = succeeded(spec, { prep: [prepared], fit: [trained] });
    const child = stepJobSpec('j-1', spec, stepNamed(spec, 'fit'), steps);

    expect(child.inputs.map((i) => i.ref)).toEqual([spec.inputs[0]!.ref, prepared.ref]);
  });

  it('names every input validly and apart, however the outputs are named', () => {
    const clashing = parentSpec(
      [
        { name: 'x', command: ['x'] },
        { name: 'x-y', command: ['x'] },
        { name: 'join', command: ['join'], dependsOn: ['x', 'x-y'] },
      ],
      // The job's own input already holds the name its first upstream output would get.
      [{ name: 'x-y-z', ref: `file-${'e'.repeat(32)}` }],
    );
    const long = 'n'.repeat(255);
    const steps = succeeded(clashing, {
      // "x" + "y-z" and "x-y" + "z" make the same name; "a b", "a_b" and "a:b" one after cleaning.
      x: [
        anOutput('y-z', '1'),
        anOutput('a b', '2'),
        anOutput('a_b', '3'),
        anOutput('a:b', '4'),
        anOutput(`${long}`, '5'),
        anOutput(`${long.slice(1)}m`, '6'),
        anOutput('résumé 1.txt', '7'),
      ],
      'x-y': [anOutput('z', '8')],
    });
    const child = stepJobSpec('j-1', clashing, stepNamed(clashing, 'join'), steps);
    const upstream = child.inputs.slice(clashing.inputs.length);

    expect(upstream.map((i) => i.ref)).toEqual(
      ['1', '2', '3', '4', '5', '6', '7', '8'].map((d) => `file-${d.repeat(32)}`),
    );
    const inputNames = child.inputs.map((i) => i.name);
    expect(new Set(inputNames).size).toBe(inputNames.length);
    for (const name of inputNames) expect(SubjectTokenSchema.safeParse(name).success).toBe(true);
    const paths = upstream.map((i) => i.path);
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths.every((p) => p?.startsWith('steps/x/') || p?.startsWith('steps/x-y/'))).toBe(true);
    // A name that needs no cleaning keeps it, so the step finds the file it expects.
    expect(upstream[0]).toEqual({
      name: 'x-y-z-2',
      ref: `file-${'1'.repeat(32)}`,
      path: 'steps/x/y-z',
    });
    expect(upstream[7]!.path).toBe('steps/x-y/z');
    // And the child is a spec admission accepts as it stands.
    expect(JobSpecSchema.parse(child)).toEqual(child);
  });

  it('refuses a step with no command to run, clearly', () => {
    const { command: _command, ...noCommand } = spec;
    const step = { ...stepNamed(spec, 'fit') };
    let refusal: unknown = null;
    try {
      stepJobSpec('j-1', noCommand as JobSpec, step, initialSteps(spec));
    } catch (err) {
      refusal = err;
    }
    expect(isGantryError(refusal) && refusal.code).toBe(ErrorCodes.VALIDATION_FAILED);
    expect((refusal as Error).message).toContain('step fit has no command');
  });
});

describe('a job with steps, through decide and evolve', () => {
  it('admitted to go on, it blocks on every step, all waiting, and none is queued', () => {
    const given = aJob().withSteps().submitted().state();
    const { state, events } = decideAll(given, c.admit(true));

    expect(events[0]).toEqual([
      { type: 'JobAdmitted', data: { jobId: 'j-1', admittedAt: NOW.toISOString() } },
      {
        type: 'JobBlocked',
        data: { jobId: 'j-1', waitingOn: ['a', 'b', 'c', 'd'], blockedAt: NOW.toISOString() },
      },
    ]);
    expect(state.state).toBe('BLOCKED');
    expect(state.run).toBe(1);
    expect(standing(state)).toEqual({ a: 'WAITING', b: 'WAITING', c: 'WAITING', d: 'WAITING' });
    expect(names(readySteps(state.steps))).toEqual(['a']);
  });

  it('a job without steps still admits and queues in one decision', () => {
    expect(types(lastEvents(aJob().submitted().state(), c.admit(true)))).toEqual([
      'JobAdmitted',
      'JobQueued',
    ]);
  });

  it('runs the steps in dependency order and succeeds once all have', () => {
    const { state, events } = decideAll(
      diamond().state(),
      c.stepSubmitted('a'),
      c.stepOutcome('a', 'SUCCEEDED', { outputs: [prepared] }),
      c.stepSubmitted('b'),
      c.stepSubmitted('c'),
      c.stepOutcome('c', 'SUCCEEDED', { outputs: [scored] }),
      c.stepOutcome('b', 'SUCCEEDED', { outputs: [trained] }),
      c.stepSubmitted('d'),
      c.stepOutcome('d'),
    );

    expect(events.map(types)).toEqual([
      ['StepSubmitted'],
      ['StepSucceeded'],
      ['StepSubmitted'],
      ['StepSubmitted'],
      ['StepSucceeded'],
      ['StepSucceeded'],
      ['StepSubmitted'],
      ['StepSucceeded', 'StepsSucceeded'],
    ]);
    expect(events[1]).toEqual([
      {
        type: 'StepSucceeded',
        data: {
          jobId: 'j-1',
          step: 'a',
          run: 1,
          childJobId: childOf('a'),
          outputs: [prepared],
          succeededAt: NOW.toISOString(),
        },
      },
    ]);
    expect(events[7]![1]).toEqual({
      type: 'StepsSucceeded',
      data: { jobId: 'j-1', run: 1, succeededAt: NOW.toISOString() },
    });
    expect(state.state).toBe('SUCCEEDED');
    expect(state.finishedAt).toBe(NOW.toISOString());
    expect(state.steps.map((s) => [s.name, s.state, s.childJobId, s.outputs])).toEqual([
      ['a', 'SUCCEEDED', childOf('a'), [prepared]],
      ['b', 'SUCCEEDED', childOf('b'), [trained]],
      ['c', 'SUCCEEDED', childOf('c'), [scored]],
      ['d', 'SUCCEEDED', childOf('d'), []],
    ]);
  });

  it('what each step sees ready follows the outcomes', () => {
    const start = diamond().stepRan('a').stepSubmitted('b').stepSubmitted('c');
    expect(names(readySteps(submitted(start.state()).steps))).toEqual([]);
    expect(names(readySteps(submitted(start.stepSucceeded('b').state()).steps))).toEqual([]);
    expect(names(readySteps(submitted(start.stepSucceeded('c').state()).steps))).toEqual(['d']);
  });

  describe('a failed step', () => {
    const bAndCRunning = () => diamond().stepRan('a').stepSubmitted('b').stepSubmitted('c');

    it('skips the steps that need it, naming it, and the job waits for the steps still running', () => {
      const { state, events } = decideAll(
        bAndCRunning().state(),
        c.stepOutcome('b', 'FAILED', { reason: 'exit 3' }),
      );

      expect(events[0]).toEqual([
        {
          type: 'StepFailed',
          data: {
            jobId: 'j-1',
            step: 'b',
            run: 1,
            childJobId: childOf('b'),
            childState: 'FAILED',
            reason: `step b: job ${childOf('b')} ended FAILED: exit 3`,
            failedAt: NOW.toISOString(),
          },
        },
        {
          type: 'StepSkipped',
          data: {
            jobId: 'j-1',
            step: 'd',
            run: 1,
            reason: expect.stringMatching(/depends on step b, which failed.*exit 3/),
            skippedAt: NOW.toISOString(),
          },
        },
      ]);
      expect(state.state).toBe('BLOCKED');
      expect(standing(state)).toEqual({
        a: 'SUCCEEDED',
        b: 'FAILED',
        c: 'SUBMITTED',
        d: 'SKIPPED',
      });
      expect(state.steps.find((s) => s.name === 'd')?.reason).toMatch(/step b/);
    });

    it('ends the job FAILED once the last step still running ends, naming failed and skipped', () => {
      const { state, events } = decideAll(
        bAndCRunning().state(),
        c.stepOutcome('b', 'FAILED'),
        c.stepOutcome('c'),
      );

      expect(types(events[1]!)).toEqual(['StepSucceeded', 'StepsFailed']);
      expect(events[1]![1]).toEqual({
        type: 'StepsFailed',
        data: {
          jobId: 'j-1',
          run: 1,
          reason: 'run 1: step b failed; not run because of it: d',
          failedSteps: ['b'],
          skippedSteps: ['d'],
          failedAt: NOW.toISOString(),
        },
      });
      expect(state.state).toBe('FAILED');
      expect(state.reason).toBe('run 1: step b failed; not run because of it: d');
      expect(state.finishedAt).toBe(NOW.toISOString());
    });

    it('a second failure does not skip a step twice, and both failures are named', () => {
      const { events } = decideAll(
        bAndCRunning().state(),
        c.stepOutcome('b', 'FAILED'),
        c.stepOutcome('c', 'DEAD_LETTER', { reason: 'retry budget spent' }),
      );

      expect(types(events[1]!)).toEqual(['StepFailed', 'StepsFailed']);
      expect(events[1]![0]!.data).toMatchObject({ childState: 'DEAD_LETTER' });
      expect(events[1]![1]!.data).toMatchObject({
        failedSteps: ['b', 'c'],
        skippedSteps: ['d'],
        reason: 'run 1: steps b, c failed; not run because of it: d',
      });
    });

    it('of the first step skips every step after it, directly or not, and ends the job', () => {
      const { state, events } = decideAll(
        diamond().stepSubmitted('a').state(),
        c.stepOutcome('a', 'CANCELLED', { reason: 'cancelled by key:acme-2' }),
      );

      expect(types(events[0]!)).toEqual([
        'StepFailed',
        'StepSkipped',
        'StepSkipped',
        'StepSkipped',
        'StepsFailed',
      ]);
      expect(events[0]!.filter((e) => e.type === 'StepSkipped').map((e) => e.data)).toEqual(
        ['b', 'c', 'd'].map((step) =>
          expect.objectContaining({ step, reason: expect.stringContaining('step a') }),
        ),
      );
      expect(state.state).toBe('FAILED');
    });

    it("keeps a child's longest reason within what the events may record", () => {
      const { events } = decideAll(
        bAndCRunning().state(),
        c.stepOutcome('b', 'FAILED', { reason: 'x'.repeat(4_000) }),
        c.stepOutcome('c'),
      );

      // decideAll has checked each event against the registry; the reasons are clipped, not lost.
      const failed = events[0]!.find((e) => e.type === 'StepFailed')!.data as { reason: string };
      expect(failed.reason).toHaveLength(4_000);
      expect(failed.reason.startsWith(`step b: job ${childOf('b')} ended FAILED: xxx`)).toBe(true);
    });
  });

  describe('repeats and stale reports change nothing', () => {
    const given = () => diamond().stepRan('a', [prepared]).stepSubmitted('b');

    it.each([
      ['a repeated outcome', c.stepOutcome('a', 'SUCCEEDED', { outputs: [prepared] })],
      ['a later, different outcome of an ended step', c.stepOutcome('a', 'FAILED')],
      ['an outcome from an earlier run', c.stepOutcome('b', 'FAILED', { run: 2 })],
      [
        'an outcome from a child the step does not run as',
        c.stepOutcome('b', 'FAILED', { childJobId: 'j-other' }),
      ],
      ['a repeated submission', c.stepSubmitted('b')],
      ['a submission of an ended step', c.stepSubmitted('a')],
      ['a submission for another run', c.stepSubmitted('c', 2)],
    ])('%s', (_case, command) => {
      expect(decide(given().state(), command, NOW)).toEqual([]);
    });

    it('a late report of the run before a retry', () => {
      const retried = diamond()
        .stepRan('a')
        .stepRan('b')
        .stepRan('c')
        .stepSubmitted('d')
        .stepFailed('d')
        .stepsFailed(['d'])
        .stepsRetried(['d']);

      expect(decide(retried.state(), c.stepOutcome('d', 'SUCCEEDED', { run: 1 }), NOW)).toEqual([]);
      expect(decide(retried.state(), c.stepSubmitted('d', 1), NOW)).toEqual([]);
    });

    it('but a second child for a step of the current run is refused', () => {
      expect(refusalOf(given().state(), c.stepSubmitted('b', 1, 'j-other'))).toBe(
        ErrorCodes.VALIDATION_FAILED,
      );
    });

    it('and a step the job does not have is refused', () => {
      expect(refusalOf(given().state(), c.stepSubmitted('nope'))).toBe(
        ErrorCodes.VALIDATION_FAILED,
      );
      expect(refusalOf(given().state(), c.stepOutcome('nope'))).toBe(ErrorCodes.VALIDATION_FAILED);
    });
  });

  describe('an outcome for a step never recorded as submitted', () => {
    it('records its submission first', () => {
      const events = lastEvents(diamond().state(), c.stepOutcome('a', 'SUCCEEDED'));

      expect(events).toEqual([
        {
          type: 'StepSubmitted',
          data: {
            jobId: 'j-1',
            step: 'a',
            run: 1,
            childJobId: childOf('a'),
            submittedAt: NOW.toISOString(),
          },
        },
        expect.objectContaining({ type: 'StepSucceeded' }),
      ]);
    });

    it('records it for a child admission refused too', () => {
      const events = lastEvents(
        diamond().stepRan('a').state(),
        c.stepOutcome('b', 'REJECTED', { reason: 'admission refused it (QUOTA_EXCEEDED)' }),
      );

      expect(types(events)).toEqual(['StepSubmitted', 'StepFailed', 'StepSkipped']);
      expect(events[1]!.data).toMatchObject({ childState: 'REJECTED' });
    });

    it('is refused for a step whose dependencies have not succeeded: it cannot have run', () => {
      expect(refusalOf(diamond().stepRan('a').state(), c.stepOutcome('d'))).toBe(
        ErrorCodes.ILLEGAL_TRANSITION,
      );
    });
  });

  it.each([
    ['d, when only a ran', () => diamond().stepRan('a'), 'd'],
    ['d, when c still runs', () => diamond().stepRan('a').stepRan('b').stepSubmitted('c'), 'd'],
    ['b, when a still runs', () => diamond().stepSubmitted('a'), 'b'],
    ['b, when a failed', () => diamond().stepSubmitted('a').stepFailed('a'), 'b'],
  ])('refuses the submission of %s', (_case, given, step) => {
    expect(refusalOf(given().state(), c.stepSubmitted(step))).toBe(ErrorCodes.ILLEGAL_TRANSITION);
  });

  describe('a retry of the steps', () => {
    /** b failed, d skipped, a and c succeeded: the job FAILED in run 1. */
    const failedAtB = () =>
      diamond()
        .stepRan('a', [prepared])
        .stepSubmitted('b')
        .stepSubmitted('c')
        .stepFailed('b')
        .stepSkipped('d', 'b')
        .stepSucceeded('c', [scored])
        .stepsFailed(['b'], ['d']);
    const allSucceeded = () =>
      diamond()
        .stepRan('a', [prepared])
        .stepRan('b', [trained])
        .stepRan('c', [scored])
        .stepRan('d')
        .stepsSucceeded();

    it('of a FAILED job runs the failed and skipped steps again in run 2, keeping the rest', () => {
      const { state, events } = decideAll(failedAtB().state(), c.retrySteps());

      expect(events[0]).toEqual([
        {
          type: 'StepsRetried',
          data: {
            jobId: 'j-1',
            run: 2,
            steps: ['b', 'd'],
            retriedBy: 'key:acme-1',
            retriedAt: NOW.toISOString(),
          },
        },
      ]);
      expect(state.state).toBe('BLOCKED');
      expect(state.run).toBe(2);
      expect(state.finishedAt).toBeNull();
      expect(state.reason).toBeNull();
      expect(state.steps.map((s) => [s.name, s.state, s.run, s.outputs])).toEqual([
        ['a', 'SUCCEEDED', 1, [prepared]],
        ['b', 'WAITING', 2, []],
        ['c', 'SUCCEEDED', 1, [scored]],
        ['d', 'WAITING', 2, []],
      ]);
      expect(names(readySteps(state.steps))).toEqual(['b']);
    });

    it('then runs them to the end, giving the rerun steps the kept outputs', () => {
      const { state, events } = decideAll(
        failedAtB().state(),
        c.retrySteps(),
        c.stepSubmitted('b', 2),
        c.stepOutcome('b', 'SUCCEEDED', { run: 2, outputs: [trained] }),
        c.stepSubmitted('d', 2),
      );

      expect(events.map(types).slice(1)).toEqual([
        ['StepSubmitted'],
        ['StepSucceeded'],
        ['StepSubmitted'],
      ]);
      const d = state.spec.steps.find((s) => s.name === 'd')!;
      expect(
        stepJobSpec('j-1', state.spec, d, state.steps).inputs.map((i) => [i.ref, i.path]),
      ).toEqual([
        [trained.ref, 'steps/b/model.bin'],
        [scored.ref, 'steps/c/scores.json'],
      ]);
      expect(types(lastEvents(state, c.stepOutcome('d', 'SUCCEEDED', { run: 2 })))).toEqual([
        'StepSucceeded',
        'StepsSucceeded',
      ]);
    });

    it('the run before cannot end the rerun steps', () => {
      expect(decide(failedAtB().stepsRetried(['b', 'd']).state(), c.stepOutcome('b'), NOW)).toEqual(
        [],
      );
    });

    it('of a SUCCEEDED job runs the chosen steps and their dependents again', () => {
      const { state, events } = decideAll(allSucceeded().state(), c.retrySteps(['b']));

      expect(events[0]![0]!.data).toMatchObject({ run: 2, steps: ['b', 'd'] });
      expect(state.state).toBe('BLOCKED');
      // What b made in run 1 is not its output any more: only its run 2 can give d inputs.
      expect(state.steps.map((s) => [s.name, s.state, s.run, s.childJobId, s.outputs])).toEqual([
        ['a', 'SUCCEEDED', 1, childOf('a'), [prepared]],
        ['b', 'WAITING', 2, null, []],
        ['c', 'SUCCEEDED', 1, childOf('c'), [scored]],
        ['d', 'WAITING', 2, null, []],
      ]);
      expect(names(readySteps(state.steps))).toEqual(['b']);
    });

    it("lists the steps in the spec's order, however they were named", () => {
      const events = lastEvents(allSucceeded().state(), c.retrySteps(['c', 'a', 'c']));

      expect(events[0]!.data).toMatchObject({ steps: ['a', 'b', 'c', 'd'] });
    });

    it('counts runs on: a second retry is run 3', () => {
      const events = lastEvents(
        allSucceeded().stepsRetried(['d']).stepRan('d').stepsSucceeded().state(),
        c.retrySteps(['d']),
      );

      expect(events[0]!.data).toMatchObject({ run: 3, steps: ['d'] });
    });

    it.each([
      ['with nothing failed and nothing chosen', allSucceeded, undefined],
      ['with a chosen step whose failed dependency stays failed', failedAtB, ['d']],
      ['with a chosen step whose dependent needs a failed one', failedAtB, ['c']],
      ['of a job still running its steps', () => diamond().stepRan('a'), ['a']],
      ['of a cancelled job', () => diamond().cancelled(), ['a']],
    ])('is refused %s', (_case, given, steps) => {
      expect(refusalOf(given().state(), c.retrySteps(steps))).toBe(ErrorCodes.ILLEGAL_TRANSITION);
    });

    it('naming a step the job does not have is refused', () => {
      expect(refusalOf(failedAtB().state(), c.retrySteps(['b', 'nope']))).toBe(
        ErrorCodes.VALIDATION_FAILED,
      );
    });
  });

  describe('commands for steps, on a job without steps', () => {
    const finished = () => aJob().submitted().admitted().queued().leased().started().succeeded();

    it.each([
      ['RetrySteps', c.retrySteps()],
      ['RetrySteps, naming a step', c.retrySteps(['a'])],
      ['RecordStepSubmitted', c.stepSubmitted('a')],
      ['RecordStepOutcome', c.stepOutcome('a')],
    ])('%s is refused', (_case, command) => {
      expect(refusalOf(finished().state(), command)).toBe(ErrorCodes.ILLEGAL_TRANSITION);
      expect(refusalOf(aJob().submitted().admitted().blocked().state(), command)).toBe(
        ErrorCodes.ILLEGAL_TRANSITION,
      );
    });
  });

  it.each([
    ['admitted', () => aJob().withSteps().submitted().admitted()],
    ['blocked on its steps', diamond],
  ])('a job with steps is never queued: QueueJob on one %s is refused', (_case, given) => {
    expect(refusalOf(given().state(), c.queue())).toBe(ErrorCodes.ILLEGAL_TRANSITION);
  });

  describe('held while its steps run', () => {
    const lastRunning = () => diamond().stepRan('a').stepRan('b').stepRan('c').stepSubmitted('d');

    it('records the outcomes, but ends only once released', () => {
      const { state, events } = decideAll(
        lastRunning().state(),
        c.hold(),
        c.stepOutcome('d'),
        c.release(),
      );

      expect(events.map(types)).toEqual([
        ['JobHeld'],
        ['StepSucceeded'],
        ['JobReleased', 'StepsSucceeded'],
      ]);
      expect(events[2]![0]!.data).toMatchObject({ releasedTo: 'BLOCKED' });
      expect(state.state).toBe('SUCCEEDED');
    });

    it('a failure while held skips its dependents then, and fails the job on release', () => {
      const { state, events } = decideAll(
        diamond().stepRan('a').stepSubmitted('b').stepSubmitted('c').state(),
        c.hold(),
        c.stepOutcome('b', 'FAILED'),
        c.stepOutcome('c'),
        c.release(),
      );

      expect(events.map(types)).toEqual([
        ['JobHeld'],
        ['StepFailed', 'StepSkipped'],
        ['StepSucceeded'],
        ['JobReleased', 'StepsFailed'],
      ]);
      expect(state.state).toBe('FAILED');
    });

    it('released with steps still to run, it goes back to waiting on them', () => {
      const { state, events } = decideAll(
        diamond().stepRan('a').stepSubmitted('b').state(),
        c.hold(),
        c.stepOutcome('b'),
        c.release(),
      );

      expect(events.at(-1)!.map((e) => e.type)).toEqual(['JobReleased']);
      expect(state.state).toBe('BLOCKED');
      expect(names(readySteps(state.steps))).toEqual(['c']);
    });
  });

  describe('cancelled while blocked on its steps', () => {
    const cancelled = () =>
      decideAll(diamond().stepRan('a').stepSubmitted('b').state(), c.cancel());

    it('is cancelled at once', () => {
      const { state, events } = cancelled();

      expect(types(events[0]!)).toEqual(['JobCancelled']);
      expect(state.state).toBe('CANCELLED');
    });

    it.each([
      ['an outcome of a running step', c.stepOutcome('b')],
      ['a failure of a running step', c.stepOutcome('b', 'CANCELLED')],
      ['an outcome of a step never submitted', c.stepOutcome('c')],
      ['a submission', c.stepSubmitted('c')],
    ])('then ignores %s', (_case, command) => {
      expect(decide(cancelled().state, command, NOW)).toEqual([]);
    });
  });

  it('folding every fact decided about the steps rebuilds the same job', () => {
    const given = aJob().withSteps().submitted();
    const { state, events } = decideAll(
      given.state(),
      c.admit(true),
      c.stepOutcome('a', 'SUCCEEDED', { outputs: [prepared] }),
      c.stepSubmitted('b'),
      c.stepSubmitted('c'),
      c.stepOutcome('b', 'FAILED'),
      c.stepOutcome('c', 'SUCCEEDED', { outputs: [scored] }),
      c.retrySteps(),
      c.stepOutcome('b', 'SUCCEEDED', { run: 2, outputs: [trained] }),
      c.stepOutcome('d', 'SUCCEEDED', { run: 2 }),
    );

    expect(state.state).toBe('SUCCEEDED');
    expect(foldJob(given.identity, [...given.events(), ...events.flat()])).toEqual(state);
  });
});

describe('fan-out: a running job asks for child jobs (D5)', () => {
  const spec = JobSpecSchema.parse({ command: ['true'], resources: { cpu: 1, memoryMiB: 64 } });
  const children = [
    { name: 'part-1', spec },
    { name: 'part-2', spec: { ...spec, nodes: 2 } },
  ];
  const exitWith = (
    rank: number,
    asked: typeof children,
    outputs: OutputFile[] = [],
    epoch = 1,
  ): JobCommand => {
    const command = c.exit(epoch, rank, 0, 0.5, 'exited', outputs);
    return { ...command, data: { ...command.data, children: asked } } as JobCommand;
  };
  const running = (nodes = 1) =>
    aJob().withNodes(nodes).submitted().admitted().queued().leased().started();

  it('ends the attempt waiting for its children instead of succeeding, outputs committed', () => {
    const stored = new Map([[prepared.ref, { size: prepared.size, sha256: prepared.sha256 }]]);
    const events = decide(running().state(), exitWith(0, children, [prepared]), NOW, {
      storedFiles: stored,
    });
    expect(types(events)).toEqual(['RankExited', 'OutputsCommitted', 'JobFannedOut']);
    const after = submitted(events.reduce(evolve, running().state()));
    expect(after).toMatchObject({ state: 'BLOCKED', leaseActive: false, run: 1 });
    expect(after.outputs).toEqual([prepared]);
    expect(after.steps.map((s) => [s.name, s.state, s.dependsOn])).toEqual([
      ['part-1', 'WAITING', []],
      ['part-2', 'WAITING', []],
    ]);
    // A late report under the ended lease is fenced: the attempt is over.
    expect(refusalOf(after, c.exit(1, 0, 0))).toBe(ErrorCodes.LEASE_STALE_EPOCH);
  });

  it("a gang's rank 0 asks; the job fans out once the last rank has exited cleanly", () => {
    const { events } = decideAll(running(2).state(), exitWith(0, children), c.exit(1, 1, 0));
    expect(events.map(types)).toEqual([['RankExited'], ['RankExited', 'JobFannedOut']]);
    expect(events[1]![1]!.data).toMatchObject({ children });
  });

  it('refuses children from any rank but 0, and names its steps already have', () => {
    expect(refusalOf(running(2).state(), exitWith(1, children))).toBe(ErrorCodes.VALIDATION_FAILED);
    const once = decideAll(running(2).state(), exitWith(0, children)).state;
    const again = exitWith(0, [children[0]!]);
    // Rank 0 reported already (a redelivery decides nothing); a new name clash is refused.
    expect(decide(once, again, NOW)).toEqual([]);
  });

  it('ends with its children, and a retry reruns only the failed child', () => {
    const fanned = decideAll(running().state(), exitWith(0, children)).state;
    const { state: failed, events } = decideAll(
      fanned,
      c.stepOutcome('part-1', 'SUCCEEDED', { outputs: [scored] }),
      c.stepOutcome('part-2', 'DEAD_LETTER', { reason: 'exit 3' }),
    );
    expect(types(events[1]!)).toEqual(['StepSubmitted', 'StepFailed', 'StepsFailed']);
    expect(failed.state).toBe('FAILED');
    const { state: retried } = decideAll(failed, c.retrySteps());
    expect(standing(retried)).toEqual({ 'part-1': 'SUCCEEDED', 'part-2': 'WAITING' });
    expect(readySteps(retried.steps).map((s) => s.name)).toEqual(['part-2']);
    // The child keeps its own spec, with the job's committed outputs as inputs under parent/.
    const withOutput = { ...retried, outputs: [trained] };
    expect(childJobSpec(withOutput, retried.steps[1]!, retried.steps)).toMatchObject({
      nodes: 2,
      inputs: [{ name: 'parent-model_bin', ref: trained.ref, path: 'parent/model.bin' }],
    });
  });
});
