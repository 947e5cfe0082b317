import { createHash } from 'node:crypto';
import {
  isLegalInState,
  isLegalTransition,
  stateAfterEvent,
  type JobStateName,
} from '@gantry/domain';
import { type GatewayClient } from '../src';
import { startE2ePlatform, type E2ePlatform } from './e2e-platform';

/**
 * C6 through the public API, on every service and two real agents in a pool that allows
 * preemption: a high-priority job that finds the pool full evicts exactly the victim the planner
 * chose (the youngest low-priority job), which saves a checkpoint in its grace period, goes back
 * to the queue without a failure, and resumes from its checkpoint to succeed; nothing else is
 * evicted, and nothing is evicted twice.
 */
let e2e: E2ePlatform;
let tenant: GatewayClient;

interface JobEventView {
  readonly version: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

beforeAll(async () => {
  e2e = await startE2ePlatform(
    'preempt_e2e',
    ['node-a', 'node-b'].map((nodeId) => ({ nodeId, pools: ['cpu'], cpu: 2, memoryMiB: 2048 })),
    { GANTRY_PREEMPTION_POOLS: 'cpu', GANTRY_PREEMPT_GRACE_MS: '5000' },
  );
  ({ tenant } = e2e);
});

afterAll(() => e2e?.stop());

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * A whole node's worth of low-priority work. First run: works for about 20 s, and on SIGTERM saves
 * a checkpoint and stops. Resumed: succeeds only with that checkpoint in hand.
 */
const lowPriorityJob = {
  priority: 10,
  resources: { cpu: 2, memoryMiB: 128 },
  retry: { maxAttempts: 1 },
  command: [
    'sh',
    '-c',
    [
      'if [ -n "$GANTRY_CHECKPOINT" ]; then [ "$(cat "$GANTRY_CHECKPOINT")" = step-7 ]; exit $?; fi',
      'trap \'printf step-7 > state.ckpt; echo "{\\"checkpoint\\":\\"state.ckpt\\"}" >> "$GANTRY_PROGRESS_FILE"; exit 143\' TERM',
      'i=0; while [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done',
    ].join('; '),
  ],
};

const submit = async (spec: Record<string, unknown>): Promise<string> => {
  const reply = await tenant.submit(spec);
  expect(reply.status).toBe(201);
  return reply.body.id;
};

const eventsOf = async (jobId: string): Promise<JobEventView[]> => {
  const reply = await tenant.call<{ events: JobEventView[] }>('GET', `/v1/jobs/${jobId}/events`);
  expect(reply.status).toBe(200);
  return reply.body.events;
};

/** Every step of a history that the job state machine would refuse. */
const illegalSteps = (events: readonly JobEventView[]): string[] => {
  let state: JobStateName = 'NONE';
  const illegal: string[] = [];
  for (const event of events) {
    const next = stateAfterEvent(event);
    const legal =
      next === undefined ? isLegalInState(state, event.type) : isLegalTransition(state, next);
    if (!legal) illegal.push(`${state} ${event.type}`);
    state = next ?? state;
  }
  return illegal;
};

const types = (events: readonly JobEventView[]) => events.map((e) => e.type);

describe('C6: preemption in a pool that allows it', () => {
  it('evicts exactly the youngest low-priority job, which resumes from its checkpoint and succeeds', async () => {
    const older = await submit(lowPriorityJob);
    await tenant.waitForJob(older, (s) => s === 'RUNNING');
    const younger = await submit(lowPriorityJob);
    await tenant.waitForJob(younger, (s) => s === 'RUNNING');

    const urgent = await submit({
      priority: 500,
      resources: { cpu: 2, memoryMiB: 128 },
      command: ['true'],
    });
    expect((await tenant.waitForJob(urgent)).state).toBe('SUCCEEDED');

    const victim = await tenant.waitForJob(younger);
    expect(victim).toMatchObject({
      state: 'SUCCEEDED',
      attempts: 2,
      checkpoint: { name: 'state.ckpt', size: 6, sha256: sha('step-7'), attempt: 1 },
    });
    expect((await tenant.waitForJob(older)).state).toBe('SUCCEEDED');

    const history = await eventsOf(younger);
    expect(illegalSteps(history)).toEqual([]);
    // Its history shows a preemption, not a failure, and it was evicted once.
    expect(types(history)).not.toContain('AttemptFailed');
    expect(types(history)).not.toContain('JobRetryScheduled');
    const preempted = history.filter((e) => e.type === 'AttemptPreempted');
    expect(preempted.map((e) => e.data)).toEqual([
      expect.objectContaining({ attempt: 1, preemptedBy: urgent }),
    ]);
    const requested = types(history).indexOf('AttemptPreemptionRequested');
    // The checkpoint written in the grace period was recorded under the preempted attempt.
    expect(types(history).slice(requested)).toEqual(
      expect.arrayContaining(['JobCheckpointed', 'AttemptPreempted']),
    );
    expect(types(history).indexOf('JobCheckpointed')).toBeGreaterThan(requested);

    // Nothing else was evicted: exactly the chosen victim, once.
    for (const id of [older, urgent]) {
      const events = await eventsOf(id);
      expect(illegalSteps(events)).toEqual([]);
      expect(types(events)).not.toContain('AttemptPreemptionRequested');
      expect(types(events)).not.toContain('AttemptPreempted');
    }
    expect(await tenant.job(older)).toMatchObject({ attempts: 1 });
  });
});
