import {
  ErrorCodes,
  GantryError,
  type InputSchema,
  type JobCommand,
  type JobEvent,
  type JobSpec,
  type OutputFile,
  type ChildJobRequest,
  type Step,
} from '@gantry/contracts';
import { type z } from 'zod';

/**
 * Steps as a DAG inside a job (D5), the pure part. A job with steps runs none of its own: each
 * step runs as a job of its own (a child, with its own attempts, lease, retry budget and outputs),
 * submitted once every step it depends on has succeeded. The parent records what became of each,
 * and ends SUCCEEDED when all did, or FAILED once nothing more can run and some failed; a step
 * whose dependency failed is skipped, saying which. A retry runs the failed (or chosen) steps and
 * their dependents again, in a new run; the others keep their committed outputs, which the steps
 * that run again get as inputs, as the first run's did.
 */
export type StepStateName = 'WAITING' | 'SUBMITTED' | 'SUCCEEDED' | 'FAILED' | 'SKIPPED';

export interface StepStatus {
  readonly name: string;
  readonly dependsOn: readonly string[];
  readonly state: StepStateName;
  /** The run that last changed the step: a child's report counts only for its own run. */
  readonly run: number;
  /** The job running (or that ran) the step in `run`; null before its submission. */
  readonly childJobId: string | null;
  /** What the step committed when it succeeded: reused by every later run that keeps it. */
  readonly outputs: readonly OutputFile[];
  readonly reason: string | null;
  /** A child the job asked for at run time (fan-out): its own spec; null for a declared step. */
  readonly spec: JobSpec | null;
}

type ChildEnd = Extract<JobCommand, { type: 'RecordStepOutcome' }>['data']['childState'];
type Input = z.output<typeof InputSchema>;

export const initialSteps = (spec: JobSpec): StepStatus[] =>
  spec.steps.map((step) => ({
    name: step.name,
    dependsOn: step.dependsOn,
    state: 'WAITING',
    run: 1,
    childJobId: null,
    outputs: [],
    reason: null,
    spec: null,
  }));

/** The children a job fanned out to (D5), as steps of it that depend on nothing. */
export const fannedOutSteps = (children: readonly ChildJobRequest[]): StepStatus[] =>
  children.map((child) => ({
    name: child.name,
    dependsOn: [],
    state: 'WAITING',
    run: 1,
    childJobId: null,
    outputs: [],
    reason: null,
    spec: child.spec,
  }));

export const hasSteps = (spec: JobSpec): boolean => spec.steps.length > 0;

/** The waiting steps whose dependencies have all succeeded: the ones to submit now. */
export const readySteps = (steps: readonly StepStatus[]): StepStatus[] => {
  const succeeded = new Set(steps.filter((s) => s.state === 'SUCCEEDED').map((s) => s.name));
  return steps.filter((s) => s.state === 'WAITING' && s.dependsOn.every((d) => succeeded.has(d)));
};

/** The steps that depend on any of `names`, directly or through others (not `names` itself). */
export const dependentsOf = (
  steps: readonly StepStatus[],
  names: Iterable<string>,
): Set<string> => {
  const found = new Set<string>();
  const frontier = [...names];
  while (frontier.length > 0) {
    const name = frontier.pop() as string;
    for (const step of steps)
      if (step.dependsOn.includes(name) && !found.has(step.name)) {
        found.add(step.name);
        frontier.push(step.name);
      }
  }
  return found;
};

/**
 * The idempotency key a step's child is submitted under: the same step of the same run always
 * opens the same child job, however often admission retries the submission after a crash.
 */
export const stepIdempotencyKey = (parentJobId: string, step: string, run: number): string =>
  `gantry-step:${parentJobId}:${step}:${run}`;

/**
 * A step's child job: the parent's spec, with the step's overrides, no steps of its own, and the
 * committed outputs of the steps it depends on among its inputs, under `steps/<step>/<name>`.
 */
export const stepJobSpec = (
  parentJobId: string,
  parent: JobSpec,
  step: Step,
  steps: readonly StepStatus[],
): JobSpec => {
  const command = step.command ?? parent.command;
  if (command === undefined) {
    // The spec's own validation refuses this at submission; a stored spec cannot get here.
    throw new GantryError(ErrorCodes.VALIDATION_FAILED, `step ${step.name} has no command`, {
      details: { jobId: parentJobId, step: step.name },
    });
  }
  // Input names are subject tokens and paths a restricted alphabet, while an output's name is any
  // file name: both are made valid, then unique (against the job's own inputs too), in a fixed
  // order, so the same run always gives the child the same spec.
  const names = new Set(parent.inputs.map((input) => input.name));
  const paths = new Set(parent.inputs.flatMap((input) => (input.path ? [input.path] : [])));
  const upstream: Input[] = step.dependsOn.flatMap((dependency) =>
    (steps.find((s) => s.name === dependency)?.outputs ?? []).map((output) => ({
      name: unique(names, `${dependency}-${output.name}`.replace(/[^A-Za-z0-9_-]/g, '_'), 128),
      ref: output.ref,
      path: unique(paths, `steps/${dependency}/${output.name.replace(/[^A-Za-z0-9._-]/g, '_')}`),
    })),
  );
  const expected = step.expectedRuntimeSeconds ?? parent.expectedRuntimeSeconds;
  const max = step.maxRuntimeSeconds ?? parent.maxRuntimeSeconds;
  return {
    name: `${parent.name ?? parentJobId}/${step.name}`.slice(0, 200),
    command,
    env: { ...parent.env, ...step.env },
    nodes: step.nodes ?? parent.nodes,
    resources: step.resources ?? parent.resources,
    pool: step.pool ?? parent.pool,
    labels: parent.labels,
    runtime: parent.runtime,
    priority: parent.priority,
    ...(expected === undefined || (max !== undefined && max < expected)
      ? {}
      : { expectedRuntimeSeconds: expected }),
    ...(max === undefined ? {} : { maxRuntimeSeconds: max }),
    retry: step.retry ?? parent.retry,
    inputs: [...parent.inputs, ...upstream],
    outputs: [],
    steps: [],
  };
};

/**
 * The job a step runs as: a declared step's from the job's spec (stepJobSpec); a fanned-out
 * child's from its own spec, with the committed outputs of the job that asked for it among its
 * inputs, under `parent/<name>`.
 */
export const childJobSpec = (
  job: { readonly jobId: string; readonly spec: JobSpec; readonly outputs: readonly OutputFile[] },
  step: StepStatus,
  steps: readonly StepStatus[],
): JobSpec => {
  if (step.spec === null) {
    const declared = job.spec.steps.find((s) => s.name === step.name);
    if (!declared) {
      throw new GantryError(
        ErrorCodes.VALIDATION_FAILED,
        `job ${job.jobId} declares no step ${step.name}`,
        {
          details: { jobId: job.jobId, step: step.name },
        },
      );
    }
    return stepJobSpec(job.jobId, job.spec, declared, steps);
  }
  const names = new Set(step.spec.inputs.map((input) => input.name));
  const paths = new Set(step.spec.inputs.flatMap((input) => (input.path ? [input.path] : [])));
  const fromParent: Input[] = job.outputs.map((output) => ({
    name: unique(names, `parent-${output.name}`.replace(/[^A-Za-z0-9_-]/g, '_'), 128),
    ref: output.ref,
    path: unique(paths, `parent/${output.name.replace(/[^A-Za-z0-9._-]/g, '_')}`),
  }));
  return {
    ...step.spec,
    name: step.spec.name ?? `${job.spec.name ?? job.jobId}/${step.name}`.slice(0, 200),
    inputs: [...step.spec.inputs, ...fromParent],
  };
};

/** `wanted`, or `wanted-2`, `wanted-3`… the first not yet `taken`, within `max` characters. */
const unique = (taken: Set<string>, wanted: string, max = 512): string => {
  let candidate = wanted.slice(0, max);
  for (let n = 2; taken.has(candidate); n += 1)
    candidate = `${wanted.slice(0, max - `-${n}`.length)}-${n}`;
  taken.add(candidate);
  return candidate;
};

/** A recorded reason is at most 4000 characters (the events' schema): a child's may be that long. */
const REASON_MAX = 4_000;
const clip = (reason: string): string =>
  reason.length <= REASON_MAX ? reason : `${reason.slice(0, REASON_MAX - 1)}…`;

const stepNamed = (steps: readonly StepStatus[], name: string, jobId: string): StepStatus => {
  const step = steps.find((s) => s.name === name);
  if (!step) {
    throw new GantryError(ErrorCodes.VALIDATION_FAILED, `job ${jobId} has no step '${name}'`, {
      details: { jobId, step: name, steps: steps.map((s) => s.name) },
    });
  }
  return step;
};

/** The parent's view of its steps, as the decisions below need it. */
export interface StepsOfJob {
  readonly jobId: string;
  readonly run: number;
  readonly steps: readonly StepStatus[];
  /** Held (D6): outcomes are recorded, but the job ends only once it is released. */
  readonly held?: boolean;
}

/** A child of the current run was submitted; a repeat (or a late one of an old run) is a no-op. */
export const decideStepSubmitted = (
  job: StepsOfJob,
  data: Extract<JobCommand, { type: 'RecordStepSubmitted' }>['data'],
  at: string,
): JobEvent[] => {
  const step = stepNamed(job.steps, data.step, job.jobId);
  if (data.run !== job.run || step.state !== 'WAITING') {
    if (step.childJobId !== null && step.childJobId !== data.childJobId && data.run === job.run) {
      throw new GantryError(
        ErrorCodes.VALIDATION_FAILED,
        `step ${data.step} of job ${job.jobId} already runs as ${step.childJobId}, not ${data.childJobId}`,
        { details: { jobId: job.jobId, step: data.step, childJobId: step.childJobId } },
      );
    }
    return [];
  }
  const ready = readySteps(job.steps).some((s) => s.name === data.step);
  if (!ready) {
    throw new GantryError(
      ErrorCodes.ILLEGAL_TRANSITION,
      `step ${data.step} of job ${job.jobId} waits on steps that have not succeeded`,
      { details: { jobId: job.jobId, step: data.step, dependsOn: step.dependsOn } },
    );
  }
  return [
    {
      type: 'StepSubmitted',
      data: {
        jobId: job.jobId,
        step: data.step,
        run: data.run,
        childJobId: data.childJobId,
        submittedAt: at,
      },
    },
  ];
};

/**
 * A child of the current run ended. Records the step's outcome; a failure skips every step that
 * depends on it (they can no longer run in this run); once every step has ended, the job ends.
 * A report for another run, or for a step already ended, is a no-op (redelivery, or a late child).
 */
export const decideStepOutcome = (
  job: StepsOfJob,
  data: Extract<JobCommand, { type: 'RecordStepOutcome' }>['data'],
  at: string,
): JobEvent[] => {
  const step = stepNamed(job.steps, data.step, job.jobId);
  const ended = step.state === 'SUCCEEDED' || step.state === 'FAILED' || step.state === 'SKIPPED';
  if (data.run !== job.run || ended) return [];
  if (step.childJobId !== null && step.childJobId !== data.childJobId) return [];
  const base = { jobId: job.jobId, step: data.step, run: data.run, childJobId: data.childJobId };
  const events: JobEvent[] = [];
  // A child may end (refused by admission, say) before its submission was recorded; but only a
  // step that could have been submitted can have had a child.
  if (step.childJobId === null) {
    if (!readySteps(job.steps).some((s) => s.name === data.step)) {
      throw new GantryError(
        ErrorCodes.ILLEGAL_TRANSITION,
        `step ${data.step} of job ${job.jobId} waits on steps that have not succeeded: it ran no job`,
        { details: { jobId: job.jobId, step: data.step, dependsOn: step.dependsOn } },
      );
    }
    events.push({ type: 'StepSubmitted', data: { ...base, submittedAt: at } });
  }
  let steps = job.steps;
  const set = (name: string, change: Partial<StepStatus>): void => {
    steps = steps.map((s) => (s.name === name ? { ...s, ...change } : s));
  };
  if (data.childState === 'SUCCEEDED') {
    events.push({
      type: 'StepSucceeded',
      data: { ...base, outputs: data.outputs, succeededAt: at },
    });
    set(data.step, { state: 'SUCCEEDED' });
  } else {
    const reason = clip(
      `step ${data.step}: job ${data.childJobId} ended ${data.childState}${data.reason === '' ? '' : `: ${data.reason}`}`,
    );
    events.push({
      type: 'StepFailed',
      data: { ...base, childState: data.childState as ChildFailure, reason, failedAt: at },
    });
    set(data.step, { state: 'FAILED' });
    for (const name of dependentsOf(job.steps, [data.step])) {
      const dependent = steps.find((s) => s.name === name);
      if (dependent?.state !== 'WAITING') continue;
      events.push({
        type: 'StepSkipped',
        data: {
          jobId: job.jobId,
          step: name,
          run: job.run,
          reason: clip(`not run: it depends on step ${data.step}, which failed (${reason})`),
          skippedAt: at,
        },
      });
      set(name, { state: 'SKIPPED' });
    }
  }
  return job.held ? events : [...events, ...stepsCompletion({ ...job, steps }, at)];
};

type ChildFailure = Exclude<ChildEnd, 'SUCCEEDED'>;

/** The job's end, once no step is waiting or running; nothing while one is. */
export const stepsCompletion = (job: StepsOfJob, at: string): JobEvent[] => {
  if (job.steps.some((s) => s.state === 'WAITING' || s.state === 'SUBMITTED')) return [];
  const failedSteps = job.steps.filter((s) => s.state === 'FAILED').map((s) => s.name);
  const skippedSteps = job.steps.filter((s) => s.state === 'SKIPPED').map((s) => s.name);
  if (failedSteps.length === 0 && skippedSteps.length === 0)
    return [{ type: 'StepsSucceeded', data: { jobId: job.jobId, run: job.run, succeededAt: at } }];
  // The lists are whole in failedSteps and skippedSteps; the reason only has to read well.
  const reason = clip(
    `run ${job.run}: step${failedSteps.length === 1 ? '' : 's'} ${failedSteps.join(', ')} failed` +
      (skippedSteps.length === 0 ? '' : `; not run because of it: ${skippedSteps.join(', ')}`),
  );
  return [
    {
      type: 'StepsFailed',
      data: { jobId: job.jobId, run: job.run, reason, failedSteps, skippedSteps, failedAt: at },
    },
  ];
};

/**
 * A retry (D5): the chosen steps (by default every failed and skipped one) and every step that
 * depends on them run again in a new run; the rest keep their outcome and committed outputs.
 */
export const decideRetrySteps = (
  job: StepsOfJob,
  data: Extract<JobCommand, { type: 'RetrySteps' }>['data'],
  at: string,
): JobEvent[] => {
  const chosen =
    data.steps === undefined || data.steps.length === 0
      ? job.steps.filter((s) => s.state === 'FAILED' || s.state === 'SKIPPED').map((s) => s.name)
      : data.steps.map((name) => stepNamed(job.steps, name, job.jobId).name);
  if (chosen.length === 0) {
    throw new GantryError(
      ErrorCodes.ILLEGAL_TRANSITION,
      `job ${job.jobId} has no failed step to retry; name the steps to run again`,
      { details: { jobId: job.jobId } },
    );
  }
  const again = new Set([...chosen, ...dependentsOf(job.steps, chosen)]);
  // A step that runs again needs each step it depends on to succeed again or to have succeeded:
  // one left failed (or skipped) would keep it waiting, and the job BLOCKED, for ever.
  const stuck = job.steps.flatMap((s) =>
    again.has(s.name)
      ? s.dependsOn
          .filter(
            (d) => !again.has(d) && job.steps.find((t) => t.name === d)?.state !== 'SUCCEEDED',
          )
          .map((d) => `${s.name} needs ${d}`)
      : [],
  );
  if (stuck.length > 0) {
    throw new GantryError(
      ErrorCodes.ILLEGAL_TRANSITION,
      `job ${job.jobId}: steps that did not succeed must run again with the steps that need them (${stuck.join('; ')})`,
      { details: { jobId: job.jobId, unmet: stuck } },
    );
  }
  return [
    {
      type: 'StepsRetried',
      data: {
        jobId: job.jobId,
        run: job.run + 1,
        // In the spec's order, so the history reads the same however the steps were named.
        steps: job.steps.filter((s) => again.has(s.name)).map((s) => s.name),
        retriedBy: data.retriedBy,
        retriedAt: at,
      },
    },
  ];
};

/** The fold of the step facts into the parent's steps. */
export const evolveSteps = (
  steps: readonly StepStatus[],
  event: Extract<
    JobEvent,
    { type: 'StepSubmitted' | 'StepSucceeded' | 'StepFailed' | 'StepSkipped' | 'StepsRetried' }
  >,
): StepStatus[] => {
  const change = (name: string, next: (s: StepStatus) => StepStatus): StepStatus[] =>
    steps.map((s) => (s.name === name ? next(s) : s));
  switch (event.type) {
    case 'StepSubmitted':
      return change(event.data.step, (s) => ({
        ...s,
        state: 'SUBMITTED',
        run: event.data.run,
        childJobId: event.data.childJobId,
        reason: null,
      }));
    case 'StepSucceeded':
      return change(event.data.step, (s) => ({
        ...s,
        state: 'SUCCEEDED',
        run: event.data.run,
        childJobId: event.data.childJobId,
        outputs: event.data.outputs,
        reason: null,
      }));
    case 'StepFailed':
      return change(event.data.step, (s) => ({
        ...s,
        state: 'FAILED',
        run: event.data.run,
        childJobId: event.data.childJobId,
        reason: event.data.reason,
      }));
    case 'StepSkipped':
      return change(event.data.step, (s) => ({
        ...s,
        state: 'SKIPPED',
        run: event.data.run,
        childJobId: null,
        reason: event.data.reason,
      }));
    case 'StepsRetried': {
      const again = new Set(event.data.steps);
      return steps.map((s) =>
        again.has(s.name)
          ? {
              ...s,
              state: 'WAITING',
              run: event.data.run,
              childJobId: null,
              outputs: [],
              reason: null,
            }
          : s,
      );
    }
  }
};
