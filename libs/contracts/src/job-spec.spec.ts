import { JobSpecSchema, findStepGraphProblem, jobSpecJsonSchema } from './index';

const minimal = { command: ['echo', 'hi'], resources: { cpu: 1, memoryMiB: 256 } };

describe('job spec', () => {
  it('fills in the defaults once, for every service', () => {
    const spec = JobSpecSchema.parse(minimal);
    expect(spec).toMatchObject({
      nodes: 1,
      pool: 'cpu',
      runtime: 'shell',
      priority: 100,
      env: {},
      resources: { cpu: 1, memoryMiB: 256, gpu: 0 },
      retry: { maxAttempts: 3, nonRetryableExitCodes: [] },
      steps: [],
    });
  });

  it.each([
    ['an unknown field', { ...minimal, colour: 'blue' }, ''],
    [
      'an unknown resource',
      { ...minimal, resources: { cpu: 1, memoryMiB: 1, tpu: 1 } },
      'resources',
    ],
    ['an empty command', { ...minimal, command: [] }, 'command'],
    ['a string command', { ...minimal, command: 'echo hi' }, 'command'],
    ['zero nodes', { ...minimal, nodes: 0 }, 'nodes'],
    [
      'fractional memory',
      { ...minimal, resources: { cpu: 1, memoryMiB: 1.5 } },
      'resources.memoryMiB',
    ],
    ['a platform variable', { ...minimal, env: { GANTRY_RANK: '3' } }, 'env'],
    [
      'an output outside the work directory',
      { ...minimal, outputs: [{ name: 'o', path: '../etc/passwd' }] },
      'outputs.0.path',
    ],
    [
      'an absolute output path',
      { ...minimal, outputs: [{ name: 'o', path: '/etc/passwd' }] },
      'outputs.0.path',
    ],
    [
      'max runtime below expected',
      { ...minimal, expectedRuntimeSeconds: 60, maxRuntimeSeconds: 30 },
      'maxRuntimeSeconds',
    ],
    ['a pool with a dot', { ...minimal, pool: 'gpu.a100' }, 'pool'],
  ])('refuses %s', (_name, input, path) => {
    const result = JobSpecSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  describe('steps', () => {
    const step = (name: string, dependsOn: string[] = []) => ({
      name,
      command: ['true'],
      dependsOn,
    });

    it('accepts a DAG', () => {
      expect(
        JobSpecSchema.safeParse({
          ...minimal,
          steps: [step('a'), step('b', ['a']), step('c', ['a', 'b'])],
        }).success,
      ).toBe(true);
    });

    it.each([
      ['a cycle', [step('a', ['c']), step('b', ['a']), step('c', ['b'])], 'steps form a cycle'],
      ['a self-dependency', [step('a', ['a'])], 'a step cannot depend on itself'],
      ['an unknown dependency', [step('a', ['zzz'])], "unknown step 'zzz'"],
      ['a duplicate name', [step('a'), step('a')], "duplicate step name 'a'"],
    ])('refuses %s', (_name, steps, message) => {
      expect(findStepGraphProblem(steps)?.message).toBe(message);
      expect(JobSpecSchema.safeParse({ ...minimal, steps }).success).toBe(false);
    });

    it('needs a command for every step: its own, or the job one it inherits', () => {
      const { command: _command, ...commandless } = minimal;
      const issues = (spec: unknown) =>
        (JobSpecSchema.safeParse(spec).error?.issues ?? []).map((i) => [i.path, i.message]);
      expect(issues(commandless)).toEqual([[['command'], 'a job needs a command']]);
      expect(issues({ ...commandless, steps: [step('a')] })).toEqual([]);
      expect(issues({ ...minimal, steps: [{ name: 'a' }] })).toEqual([]);
      expect(issues({ ...commandless, steps: [step('a'), { name: 'b' }] })).toEqual([
        [
          ['steps', 1, 'command'],
          'a step needs a command, or the job one for its steps to inherit',
        ],
      ]);
    });
  });

  it('is published as a JSON Schema that refuses unknown fields', () => {
    const schema = jobSpecJsonSchema() as {
      $schema: string;
      required: string[];
      additionalProperties: boolean;
    };
    expect(schema.$schema).toContain('2020-12');
    // `command` may be left out when every step has one, which the schema cannot say as a field.
    expect(schema.required).toEqual(expect.arrayContaining(['resources']));
    expect(schema.additionalProperties).toBe(false);
  });
});
