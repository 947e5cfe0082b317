import { z } from 'zod';
import { SubjectTokenSchema } from './ids';

/**
 * The job spec (FEATURES.md A5). Objects are strict: an unknown field is a mistake the tenant
 * should hear about, not something silently dropped. Defaults are applied here, once, so every
 * service sees the same normalised spec.
 */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$/;
const STEP_NAME = /^[a-z0-9]([a-z0-9-]{0,62})$/;
const RELATIVE_PATH = /^(?!\/)(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._/-]{1,512}$/;

export const RUNTIME_KINDS = ['shell', 'mpi', 'torchrun', 'ray', 'julia'] as const;
export const RuntimeKindSchema = z.enum(RUNTIME_KINDS);

export const CommandSchema = z
  .array(z.string().min(1).max(16_384))
  .min(1)
  .max(1_000)
  .describe('argv of the process to run; the first element is the program');

export const EnvSchema = z
  .record(
    z.string().regex(ENV_NAME, 'environment variable names are [A-Za-z_][A-Za-z0-9_]*'),
    z.string().max(32_768),
  )
  .refine((env) => Object.keys(env).length <= 256, 'at most 256 environment variables')
  .refine(
    (env) => Object.keys(env).every((k) => !k.startsWith('GANTRY_')),
    'GANTRY_* variables are set by the platform',
  );

export const ResourcesSchema = z.strictObject({
  cpu: z.number().positive().max(1_024).describe('cores per node; fractions allowed'),
  memoryMiB: z.number().int().positive().max(16_777_216).describe('memory per node in MiB'),
  gpu: z.number().int().min(0).max(64).default(0).describe('GPUs per node'),
});
export type Resources = z.infer<typeof ResourcesSchema>;

export const RetryPolicySchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(20).default(3),
  initialBackoffSeconds: z.number().positive().max(3_600).default(5),
  maxBackoffSeconds: z.number().positive().max(86_400).default(300),
  nonRetryableExitCodes: z.array(z.number().int().min(0).max(255)).max(256).default([]),
});
export type RetryPolicy = z.infer<typeof RetryPolicySchema>;

export const InputSchema = z.strictObject({
  name: SubjectTokenSchema,
  /** A staged file id (`file-…`) or a dataset reference; resolved by staging. */
  ref: z.string().min(1).max(1_024),
  path: z.string().regex(RELATIVE_PATH, 'a relative path inside the work directory').optional(),
});

export const OutputSchema = z.strictObject({
  name: SubjectTokenSchema,
  path: z.string().regex(RELATIVE_PATH, 'a relative path inside the work directory'),
});

/**
 * One step of a job's DAG (D5). A step runs as a job of its own (its own attempts, lease, retry
 * budget and outputs), inheriting the job's spec; what it sets here overrides that. It starts once
 * every step it depends on has succeeded, with their committed outputs among its inputs.
 */
export const StepSchema = z.strictObject({
  name: z.string().regex(STEP_NAME, 'step names are lowercase words joined by -'),
  command: CommandSchema.optional().describe("the step's argv; the job's command when left out"),
  env: EnvSchema.default({}).describe("added to the job's env, overriding names it shares"),
  dependsOn: z.array(z.string()).max(256).default([]),
  retry: RetryPolicySchema.optional(),
  nodes: z.number().int().min(1).max(1_024).optional(),
  resources: ResourcesSchema.optional(),
  pool: SubjectTokenSchema.optional(),
  expectedRuntimeSeconds: z.number().int().positive().max(31_536_000).optional(),
  maxRuntimeSeconds: z.number().int().positive().max(31_536_000).optional(),
});
export type Step = z.infer<typeof StepSchema>;

const LabelsSchema = z
  .record(z.string().regex(LABEL_KEY, 'label keys are DNS-like names'), z.string().max(256))
  .refine((labels) => Object.keys(labels).length <= 64, 'at most 64 labels');

export const JobSpecSchema = z
  .strictObject({
    name: z.string().min(1).max(200).optional(),
    /** Required, unless every step has its own (a job with steps runs only its steps). */
    command: CommandSchema.optional(),
    env: EnvSchema.default({}),
    nodes: z
      .number()
      .int()
      .min(1)
      .max(1_024)
      .default(1)
      .describe('gang size: all nodes start together or none do'),
    resources: ResourcesSchema,
    pool: SubjectTokenSchema.default('cpu'),
    labels: LabelsSchema.default({}),
    runtime: RuntimeKindSchema.default('shell'),
    priority: z.number().int().min(0).max(1_000).default(100),
    expectedRuntimeSeconds: z.number().int().positive().max(31_536_000).optional(),
    maxRuntimeSeconds: z.number().int().positive().max(31_536_000).optional(),
    retry: RetryPolicySchema.default(RetryPolicySchema.parse({})),
    inputs: z.array(InputSchema).max(1_000).default([]),
    outputs: z.array(OutputSchema).max(1_000).default([]),
    steps: z.array(StepSchema).max(1_000).default([]),
  })
  .superRefine((spec, ctx) => {
    if (
      spec.expectedRuntimeSeconds !== undefined &&
      spec.maxRuntimeSeconds !== undefined &&
      spec.maxRuntimeSeconds < spec.expectedRuntimeSeconds
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxRuntimeSeconds'],
        message: 'must be at least expectedRuntimeSeconds',
      });
    }
    if (spec.command === undefined && spec.steps.length === 0)
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'a job needs a command' });
    spec.steps.forEach((step, i) => {
      if (step.command === undefined && spec.command === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'command'],
          message: 'a step needs a command, or the job one for its steps to inherit',
        });
    });
    const problem = findStepGraphProblem(spec.steps);
    if (problem)
      ctx.addIssue({ code: 'custom', path: ['steps', ...problem.path], message: problem.message });
  });

export type JobSpec = z.output<typeof JobSpecSchema>;
export type JobSpecInput = z.input<typeof JobSpecSchema>;

/**
 * A child job a running job asks for (D5 fan-out), by writing a manifest its agent reads on a
 * clean exit: a JSON array of these. The job then waits for its children, as for steps, and ends
 * with them. `name` is the child's step name in the job.
 */
export const ChildJobRequestSchema = z.strictObject({
  name: z.string().regex(STEP_NAME, 'child names are lowercase words joined by -'),
  spec: JobSpecSchema,
});
export type ChildJobRequest = z.output<typeof ChildJobRequestSchema>;
export const MAX_CHILD_JOBS = 100;
export const ChildJobRequestsSchema = z
  .array(ChildJobRequestSchema)
  .max(MAX_CHILD_JOBS)
  .refine(
    (children) => new Set(children.map((c) => c.name)).size === children.length,
    'child names are unique',
  );

/** Steps must form a DAG: unique names, known dependencies, no cycle. */
export function findStepGraphProblem(
  steps: ReadonlyArray<{ name: string; dependsOn: readonly string[] }>,
): { path: (string | number)[]; message: string } | undefined {
  const index = new Map<string, number>();
  for (const [i, step] of steps.entries()) {
    if (index.has(step.name))
      return { path: [i, 'name'], message: `duplicate step name '${step.name}'` };
    index.set(step.name, i);
  }
  for (const [i, step] of steps.entries()) {
    for (const dep of step.dependsOn) {
      if (!index.has(dep)) return { path: [i, 'dependsOn'], message: `unknown step '${dep}'` };
      if (dep === step.name)
        return { path: [i, 'dependsOn'], message: 'a step cannot depend on itself' };
    }
  }
  // Kahn's algorithm: whatever cannot be ordered sits on a cycle.
  const indegree = steps.map((s) => s.dependsOn.length);
  const dependents = new Map<string, number[]>();
  steps.forEach((s, i) =>
    s.dependsOn.forEach((d) => dependents.set(d, [...(dependents.get(d) ?? []), i])),
  );
  const ready = indegree.flatMap((d, i) => (d === 0 ? [i] : []));
  let ordered = 0;
  while (ready.length > 0) {
    const i = ready.pop() as number;
    ordered += 1;
    for (const j of dependents.get(steps[i]!.name) ?? []) {
      indegree[j]! -= 1;
      if (indegree[j] === 0) ready.push(j);
    }
  }
  if (ordered < steps.length) {
    const onCycle = indegree.findIndex((d) => d > 0);
    return { path: [onCycle, 'dependsOn'], message: 'steps form a cycle' };
  }
  return undefined;
}

/** The published JSON Schema of the job spec (what a tenant writes, before defaults). */
export const jobSpecJsonSchema = (): Record<string, unknown> =>
  z.toJSONSchema(JobSpecSchema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
