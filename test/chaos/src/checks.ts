import {
  isLegalInState,
  isLegalTransition,
  isTerminal,
  stateAfterEvent,
  type JobLifecycleState,
  type JobStateName,
} from '@gantry/domain';

/**
 * The chaos suite's verdicts over one job's recorded history: pure, so a failing history can be
 * pasted into a test and judged again.
 */
export interface StoredEvent {
  readonly version: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly occurredAt: Date;
}

/** Facts an agent's report produces: each must carry the epoch of the lease live at that point. */
const WORKER_SIDE = new Set([
  'JobStagingStarted',
  'JobStarted',
  'RankExited',
  'AttemptFailed',
  'LeaseExpired',
  'JobSucceeded',
  'OutputsCommitted',
  'JobProgressed',
  'JobCheckpointed',
  'AttemptPreemptionRequested',
  'AttemptPreempted',
  'JobFannedOut',
]);

/** The job-level facts that end an attempt, and with it its lease. */
const LEASE_ENDS = new Set([
  'JobRetryScheduled',
  'JobSucceeded',
  'JobFailed',
  'JobDeadLettered',
  'JobCancelled',
  'AttemptPreempted',
  'JobFannedOut',
]);

export interface JobVerdict {
  readonly state: JobStateName;
  readonly terminal: boolean;
  /** The attempt that succeeded, when one did. */
  readonly succeededAttempt?: number;
  readonly leases: number;
  /** Each a sentence naming the event version and what is wrong. */
  readonly illegal: readonly string[];
  readonly doubleAssignment: readonly string[];
}

const targetOf = (event: StoredEvent): JobLifecycleState | undefined => stateAfterEvent(event);

export const judgeHistory = (events: readonly StoredEvent[]): JobVerdict => {
  const illegal: string[] = [];
  const doubleAssignment: string[] = [];
  let state: JobStateName = 'NONE';
  let live: { epoch: number; ranks: Map<number, string> } | undefined;
  let lastEpoch = 0;
  let leases = 0;
  let succeededAttempt: number | undefined;

  events.forEach((event, index) => {
    const at = `v${event.version} ${event.type}`;
    if (event.version !== index + 1) illegal.push(`${at}: expected version ${index + 1}`);
    const next = targetOf(event);
    if (next !== undefined) {
      if (!isLegalTransition(state, next)) illegal.push(`${at}: ${state} -> ${next} is illegal`);
      state = next;
    } else if (!isLegalInState(state, event.type)) {
      illegal.push(`${at}: not legal in ${state}`);
    }
    const epoch = event.data['leaseEpoch'];
    if (event.type === 'JobLeased') {
      leases += 1;
      if (live) doubleAssignment.push(`${at}: epoch ${epoch} while epoch ${live.epoch} is live`);
      if (typeof epoch !== 'number' || epoch <= lastEpoch) {
        doubleAssignment.push(`${at}: epoch ${epoch} does not follow ${lastEpoch}`);
      }
      const nodes = (event.data['nodes'] as { nodeId: string; rank: number }[] | undefined) ?? [];
      if (new Set(nodes.map((n) => n.nodeId)).size !== nodes.length) {
        doubleAssignment.push(`${at}: one node holds two ranks of the gang`);
      }
      live = { epoch: Number(epoch), ranks: new Map(nodes.map((n) => [n.rank, n.nodeId])) };
      lastEpoch = Math.max(lastEpoch, Number(epoch));
    } else if (WORKER_SIDE.has(event.type)) {
      if (!live) {
        doubleAssignment.push(`${at}: epoch ${epoch} accepted with no live lease`);
      } else if (epoch !== live.epoch) {
        doubleAssignment.push(`${at}: stale epoch ${epoch} accepted, live is ${live.epoch}`);
      } else if (event.type === 'RankExited') {
        const rank = Number(event.data['rank']);
        const holder = live.ranks.get(rank);
        if (holder !== event.data['nodeId']) {
          doubleAssignment.push(
            `${at}: rank ${rank} reported by ${String(event.data['nodeId'])}, leased to ${holder}`,
          );
        }
      }
    }
    if (event.type === 'JobSucceeded') succeededAttempt = Number(event.data['attempt']);
    if (LEASE_ENDS.has(event.type)) live = undefined;
  });
  return {
    state,
    terminal: state !== 'NONE' && isTerminal(state),
    ...(succeededAttempt === undefined ? {} : { succeededAttempt }),
    leases,
    illegal,
    doubleAssignment,
  };
};

/** p50 and max of a list of durations, or undefined when there are none. */
export const percentiles = (
  values: readonly number[],
): { p50: number; max: number } | undefined => {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: sorted[Math.floor((sorted.length - 1) / 2)]!, max: sorted[sorted.length - 1]! };
};

/** mulberry32: a tiny seeded PRNG, so a run's workload and fault schedule replay from its seed. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
};

/** One committed output as the job's history records it. */
export interface CommittedOutput {
  readonly name: string;
  readonly ref: string;
  readonly size: number;
  readonly sha256: string;
  readonly attempt: number;
}

export interface OutputsVerdict {
  readonly committed: readonly CommittedOutput[];
  /** Each a sentence: a second commit, a commit not sealed by its own attempt's success. */
  readonly duplicates: readonly string[];
  /**
   * For a job that saved a checkpoint before the attempt that succeeded: the digest that attempt
   * should have resumed from (the last such checkpoint's). Undefined when it had none to resume.
   */
  readonly resumeFrom?: string;
}

/**
 * D4 over one history: at most one OutputsCommitted, appended with (just before) the JobSucceeded
 * of the same attempt under the same epoch, each name once. D7: the last checkpoint recorded
 * before the lease of the attempt that succeeded is the one that attempt had to resume from.
 */
export const judgeOutputs = (events: readonly StoredEvent[]): OutputsVerdict => {
  const duplicates: string[] = [];
  const committed: CommittedOutput[] = [];
  let lastCheckpoint: string | undefined;
  let checkpointAtLease: string | undefined;
  let commits = 0;
  events.forEach((event, index) => {
    const at = `v${event.version} ${event.type}`;
    if (event.type === 'JobLeased') checkpointAtLease = lastCheckpoint;
    if (event.type === 'JobCheckpointed') {
      lastCheckpoint = (event.data['checkpoint'] as { sha256: string } | undefined)?.sha256;
    }
    if (event.type !== 'OutputsCommitted') return;
    commits += 1;
    if (commits > 1) duplicates.push(`${at}: commit #${commits} of the job's outputs`);
    const sealed = events[index + 1];
    // A fan-out (D5) ends the attempt as a success does, its outputs committed with it.
    if (
      (sealed?.type !== 'JobSucceeded' && sealed?.type !== 'JobFannedOut') ||
      sealed.data['attempt'] !== event.data['attempt'] ||
      sealed.data['leaseEpoch'] !== event.data['leaseEpoch']
    ) {
      duplicates.push(`${at}: not followed by the JobSucceeded of its own attempt and epoch`);
    }
    const outputs = (event.data['outputs'] as Omit<CommittedOutput, 'attempt'>[]) ?? [];
    if (new Set(outputs.map((o) => o.name)).size !== outputs.length) {
      duplicates.push(`${at}: one name committed twice`);
    }
    committed.push(...outputs.map((o) => ({ ...o, attempt: Number(event.data['attempt']) })));
  });
  return {
    committed,
    duplicates,
    ...(checkpointAtLease === undefined ? {} : { resumeFrom: checkpointAtLease }),
  };
};

/** Refs committed by more than one job or commit: an artifact must belong to one job, once. */
export const sharedRefs = (
  byJob: ReadonlyMap<string, readonly CommittedOutput[]>,
): readonly string[] => {
  const owner = new Map<string, string>();
  const shared: string[] = [];
  for (const [jobId, outputs] of byJob) {
    for (const output of outputs) {
      const first = owner.get(output.ref);
      if (first !== undefined) shared.push(`${output.ref} committed by ${first} and ${jobId}`);
      else owner.set(output.ref, jobId);
    }
  }
  return shared;
};

/** The step facts a job with steps records, each naming the child job that ran the step. */
const STEP_FACTS = new Set(['StepSubmitted', 'StepSucceeded', 'StepFailed']);

/**
 * D5 over one job with steps and the histories of the jobs that ran its steps: each step ran as
 * exactly one job per run (never two, whatever crashed while it was submitted), each such job names
 * the step it runs, and each followed a legal path with no double assignment and at most one
 * commit. A job with steps that succeeded has every step succeeded. Findings as sentences.
 */
export const judgeSteps = (
  parent: readonly StoredEvent[],
  children: ReadonlyMap<string, readonly StoredEvent[]>,
): string[] => {
  const found: string[] = [];
  const runBy = new Map<string, Set<string>>();
  for (const event of parent) {
    if (!STEP_FACTS.has(event.type)) continue;
    const key = `${String(event.data['step'])} run ${String(event.data['run'])}`;
    const ids = runBy.get(key) ?? new Set<string>();
    ids.add(String(event.data['childJobId']));
    runBy.set(key, ids);
  }
  for (const [key, ids] of runBy)
    if (ids.size > 1) found.push(`step ${key} ran as ${ids.size} jobs: ${[...ids].join(', ')}`);
  const parentId = parent[0]?.data['jobId'];
  for (const [key, ids] of runBy) {
    for (const id of ids) {
      const history = children.get(id) ?? [];
      const submitted = history.find((e) => e.type === 'JobSubmitted');
      const serves = submitted?.data['parent'] as { jobId: string; step: string; run: number };
      if (!serves) {
        found.push(`step ${key}: job ${id} has no history naming its step`);
        continue;
      }
      if (`${serves.step} run ${serves.run}` !== key || serves.jobId !== parentId)
        found.push(`step ${key}: job ${id} says it runs ${serves.step} run ${serves.run}`);
      const verdict = judgeHistory(history);
      for (const problem of [...verdict.illegal, ...verdict.doubleAssignment])
        found.push(`step ${key}, job ${id}: ${problem}`);
      for (const problem of judgeOutputs(history).duplicates)
        found.push(`step ${key}, job ${id}: ${problem}`);
    }
  }
  if (judgeHistory(parent).state === 'SUCCEEDED') {
    const declared = (parent[0]?.data['spec'] as { steps?: { name: string }[] })?.steps ?? [];
    const succeeded = new Set(
      parent.filter((e) => e.type === 'StepSucceeded').map((e) => e.data['step']),
    );
    for (const step of declared)
      if (!succeeded.has(step.name)) found.push(`succeeded without step ${step.name} succeeding`);
  }
  return found;
};

/** The child job ids a job with steps recorded, in the order it recorded them. */
export const stepJobsOf = (parent: readonly StoredEvent[]): string[] => [
  ...new Set(parent.filter((e) => STEP_FACTS.has(e.type)).map((e) => String(e.data['childJobId']))),
];
