import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GatewayClient } from '../src';
import { startE2ePlatform, type E2ePlatform } from './e2e-platform';

/**
 * D5 through the public API, every service and an agent as processes: a job's steps run as jobs
 * of their own in dependency order, each getting the committed outputs of the steps it depends on;
 * a failed step skips its dependents, saying why, and the job fails once nothing more can run;
 * a retry runs only the failed and skipped steps and reuses what the others committed; a cancel of
 * the job cancels the step it runs.
 */
let e2e: E2ePlatform;
let tenant: GatewayClient;
let scratch: string;

beforeAll(async () => {
  e2e = await startE2ePlatform('e2e_steps', [
    { nodeId: 'node-a', pools: ['cpu'], cpu: 4, memoryMiB: 4096 },
  ]);
  ({ tenant } = e2e);
  // The switch a step looks at to fail or succeed: the agent's jobs may run as another user.
  scratch = mkdtempSync(join(tmpdir(), 'gantry-steps-'));
  chmodSync(scratch, 0o777);
});

afterAll(async () => {
  await e2e?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

interface StepView {
  readonly name: string;
  readonly state: string;
  readonly run: number;
  readonly jobId: string | null;
  readonly reason: string | null;
  readonly outputs: readonly { name: string; ref: string; sha256: string }[];
}

type JobPage = Record<string, unknown> & { state: string; steps: StepView[]; run: number };

const job = async (id: string): Promise<JobPage> => {
  const reply = await tenant.call<JobPage>('GET', `/v1/jobs/${id}`);
  expect(reply.status).toBe(200);
  return reply.body;
};

const stepsOf = (page: JobPage): Record<string, StepView> =>
  Object.fromEntries(page.steps.map((s) => [s.name, s]));

const output = async (jobId: string, name: string): Promise<string> => {
  const reply = await tenant.call<{ url: string }>('GET', `/v1/jobs/${jobId}/outputs/${name}`);
  expect(reply.status).toBe(200);
  return (await fetch(reply.body.url)).text();
};

const sh = (script: string): string[] => ['sh', '-c', script];

describe('steps as a DAG inside a job (D5)', () => {
  it('runs a diamond in dependency order, each step with its dependencies outputs', async () => {
    const submitted = await tenant.submit({
      name: 'diamond',
      resources: { cpu: 1, memoryMiB: 64 },
      steps: [
        { name: 'prepare', command: sh('printf seed > "$GANTRY_OUTPUT_DIR/data.txt"') },
        {
          name: 'left',
          dependsOn: ['prepare'],
          command: sh('printf "$(cat steps/prepare/data.txt)-L" > "$GANTRY_OUTPUT_DIR/part.txt"'),
        },
        {
          name: 'right',
          dependsOn: ['prepare'],
          command: sh('printf "$(cat steps/prepare/data.txt)-R" > "$GANTRY_OUTPUT_DIR/part.txt"'),
        },
        {
          name: 'combine',
          dependsOn: ['left', 'right'],
          command: sh(
            'printf "%s+%s" "$(cat steps/left/part.txt)" "$(cat steps/right/part.txt)" > "$GANTRY_OUTPUT_DIR/result.txt"',
          ),
        },
      ],
    });
    expect(submitted.status).toBe(201);
    expect(submitted.body.state).toBe('BLOCKED');
    const ended = await tenant.waitForJob(submitted.body.id, undefined, 120_000);
    expect(ended.state).toBe('SUCCEEDED');

    const page = await job(submitted.body.id);
    const steps = stepsOf(page);
    expect(page.steps.map((s) => [s.name, s.state])).toEqual([
      ['prepare', 'SUCCEEDED'],
      ['left', 'SUCCEEDED'],
      ['right', 'SUCCEEDED'],
      ['combine', 'SUCCEEDED'],
    ]);
    expect(await output(steps['combine']!.jobId!, 'result.txt')).toBe('seed-L+seed-R');
    // Each step is a job of the tenant's own, which names the job and step it runs.
    const child = await job(steps['left']!.jobId!);
    expect(child).toMatchObject({
      state: 'SUCCEEDED',
      name: 'diamond/left',
      parent: { jobId: submitted.body.id, step: 'left', run: 1 },
    });
    // The dependency order, as the children's histories say: combine started after both parts.
    const startOf = async (name: string) =>
      Date.parse(String((await job(steps[name]!.jobId!))['startedAt']));
    const endOf = async (name: string) =>
      Date.parse(String((await job(steps[name]!.jobId!))['finishedAt']));
    expect(await startOf('left')).toBeGreaterThanOrEqual(await endOf('prepare'));
    expect(await startOf('combine')).toBeGreaterThanOrEqual(
      Math.max(await endOf('left'), await endOf('right')),
    );
  });

  it('skips the dependents of a failed step, and a retry reruns only those, reusing the rest', async () => {
    const marker = join(scratch, 'transform-may-pass');
    const submitted = await tenant.submit({
      name: 'pipeline',
      resources: { cpu: 1, memoryMiB: 64 },
      retry: { maxAttempts: 1 },
      steps: [
        { name: 'extract', command: sh('printf raw > "$GANTRY_OUTPUT_DIR/raw.txt"') },
        {
          name: 'transform',
          dependsOn: ['extract'],
          command: sh(
            `test -f ${marker} || { echo "not yet" >&2; exit 3; }; printf "$(cat steps/extract/raw.txt)!" > "$GANTRY_OUTPUT_DIR/clean.txt"`,
          ),
        },
        {
          name: 'load',
          dependsOn: ['transform'],
          command: sh('cp steps/transform/clean.txt "$GANTRY_OUTPUT_DIR/loaded.txt"'),
        },
        { name: 'audit', command: sh('printf audited > "$GANTRY_OUTPUT_DIR/audit.txt"') },
      ],
    });
    expect(submitted.status).toBe(201);
    const id = submitted.body.id;
    const failed = await tenant.waitForJob(id, undefined, 120_000);
    expect(failed.state).toBe('FAILED');
    const first = await job(id);
    const before = stepsOf(first);
    expect(first.steps.map((s) => [s.name, s.state])).toEqual([
      ['extract', 'SUCCEEDED'],
      ['transform', 'FAILED'],
      ['load', 'SKIPPED'],
      ['audit', 'SUCCEEDED'],
    ]);
    expect(before['transform']!.reason).toMatch(/exited with code 3/);
    expect(before['load']!.reason).toMatch(/depends on step transform, which failed/);
    expect(before['load']!.jobId).toBeNull();
    expect(String((first['reason'] as { message: string }).message)).toMatch(
      /transform failed; not run because of it: load/,
    );

    writeFileSync(marker, 'ok');
    const retried = await tenant.call('POST', `/v1/jobs/${id}/retry`, { body: {} });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ id, state: 'BLOCKED' });
    const ended = await tenant.waitForJob(id, (s) => s === 'SUCCEEDED' || s === 'FAILED', 120_000);
    expect(ended.state).toBe('SUCCEEDED');

    const second = await job(id);
    const after = stepsOf(second);
    expect(second.run).toBe(2);
    expect(second.steps.map((s) => [s.name, s.state, s.run])).toEqual([
      ['extract', 'SUCCEEDED', 1],
      ['transform', 'SUCCEEDED', 2],
      ['load', 'SUCCEEDED', 2],
      ['audit', 'SUCCEEDED', 1],
    ]);
    // The steps that worked were not run again: the same jobs, the same committed outputs.
    expect(after['extract']).toEqual(before['extract']);
    expect(after['audit']).toEqual(before['audit']);
    expect(after['transform']!.jobId).not.toBe(before['transform']!.jobId);
    expect(await output(after['load']!.jobId!, 'loaded.txt')).toBe('raw!');
    // Of the tenant's jobs, exactly one ran extract: a retry never makes a second artifact of it.
    const listed = await tenant.call<{ items: { name: string | null }[] }>(
      'GET',
      '/v1/jobs?limit=200',
    );
    expect(listed.body.items.filter((j) => j.name === 'pipeline/extract')).toHaveLength(1);
    expect(listed.body.items.filter((j) => j.name === 'pipeline/transform')).toHaveLength(2);

    // A succeeded job with steps retries only the steps named, with their dependents.
    const again = await tenant.call('POST', `/v1/jobs/${id}/retry`, {
      body: { steps: ['transform'] },
    });
    expect(again.status).toBe(200);
    expect((await tenant.waitForJob(id, (s) => s === 'SUCCEEDED', 120_000)).state).toBe(
      'SUCCEEDED',
    );
    const third = stepsOf(await job(id));
    expect([third['extract']!.run, third['transform']!.run, third['load']!.run]).toEqual([1, 3, 3]);
  });

  it('fans out to the child jobs a running job asks for, and ends with them', async () => {
    const marker = join(scratch, 'child-b-may-pass');
    const children = [
      {
        name: 'child-a',
        spec: {
          resources: { cpu: 1, memoryMiB: 64 },
          command: ['sh', '-c', 'printf "$(cat parent/seed.txt)-a" > "$GANTRY_OUTPUT_DIR/out.txt"'],
        },
      },
      {
        name: 'child-b',
        spec: {
          resources: { cpu: 1, memoryMiB: 64 },
          retry: { maxAttempts: 1 },
          command: [
            'sh',
            '-c',
            `test -f ${marker} && cp parent/seed.txt "$GANTRY_OUTPUT_DIR/out.txt"`,
          ],
        },
      },
    ];
    const submitted = await tenant.submit({
      name: 'fan',
      resources: { cpu: 1, memoryMiB: 64 },
      command: [
        'sh',
        '-c',
        `printf seed > "$GANTRY_OUTPUT_DIR/seed.txt"; cat > "$GANTRY_CHILD_JOBS" <<'EOF'\n${JSON.stringify(children)}\nEOF`,
      ],
    });
    expect(submitted.status).toBe(201);
    const id = submitted.body.id;
    const failed = await tenant.waitForJob(id, undefined, 120_000);
    expect(failed.state).toBe('FAILED');
    const first = await job(id);
    // The job's own attempt committed its output, then waited for its children as its steps.
    expect((first['outputs'] as { name: string }[]).map((o) => o.name)).toEqual(['seed.txt']);
    expect(first.steps.map((s) => [s.name, s.state])).toEqual([
      ['child-a', 'SUCCEEDED'],
      ['child-b', 'FAILED'],
    ]);
    const before = stepsOf(first);
    expect(await output(before['child-a']!.jobId!, 'out.txt')).toBe('seed-a');
    expect(await job(before['child-b']!.jobId!)).toMatchObject({
      parent: { jobId: id, step: 'child-b', run: 1 },
    });

    writeFileSync(marker, 'ok');
    const retried = await tenant.call('POST', `/v1/jobs/${id}/retry`, { body: {} });
    expect(retried.status).toBe(200);
    const ended = await tenant.waitForJob(id, (s) => s === 'SUCCEEDED' || s === 'FAILED', 120_000);
    expect(ended.state).toBe('SUCCEEDED');
    const after = stepsOf(await job(id));
    // Only the failed child ran again; the job itself did not run again.
    expect(after['child-a']).toEqual(before['child-a']);
    expect(after['child-b']!.jobId).not.toBe(before['child-b']!.jobId);
    expect(await output(after['child-b']!.jobId!, 'out.txt')).toBe('seed');
    expect((await job(id))['attempts']).toBe(1);
  });

  it('refuses a retry of a job without steps, and of a step it does not have', async () => {
    const plain = await tenant.submit({ resources: { cpu: 1, memoryMiB: 64 }, command: ['true'] });
    await tenant.waitForJob(plain.body.id);
    const refused = await tenant.call('POST', `/v1/jobs/${plain.body.id}/retry`, { body: {} });
    expect(refused.status).toBe(409);
    const withSteps = await tenant.submit({
      resources: { cpu: 1, memoryMiB: 64 },
      steps: [{ name: 'only', command: ['true'] }],
    });
    await tenant.waitForJob(withSteps.body.id, undefined, 60_000);
    const unknown = await tenant.call('POST', `/v1/jobs/${withSteps.body.id}/retry`, {
      body: { steps: ['nope'] },
    });
    expect(unknown.status).toBe(400);
    const malformed = await tenant.call('POST', `/v1/jobs/${withSteps.body.id}/retry`, {
      body: { steps: 'only' },
    });
    expect(malformed.status).toBe(400);
    expect((await job(withSteps.body.id)).run).toBe(1);
  });

  it('cancels the step a job runs when the job is cancelled', async () => {
    const submitted = await tenant.submit({
      resources: { cpu: 1, memoryMiB: 64 },
      steps: [
        { name: 'slow', command: ['sleep', '60'] },
        { name: 'after', dependsOn: ['slow'], command: ['true'] },
      ],
    });
    const id = submitted.body.id;
    const running = await waitFor(async () => {
      const slow = stepsOf(await job(id))['slow']!;
      if (slow.jobId === null) return undefined;
      const child = await job(slow.jobId);
      return child.state === 'RUNNING' ? slow.jobId : undefined;
    });
    const why = await tenant.call<{ retained: boolean; why: string }>(
      'GET',
      `/v1/jobs/${id}/explain`,
    );
    expect(why.body).toMatchObject({ retained: false });
    expect(why.body.why).toContain(`slow (job ${running})`);
    const cancelled = await tenant.call('POST', `/v1/jobs/${id}/cancel`, {
      body: { reason: 'changed my mind' },
    });
    expect(cancelled.status).toBe(200);
    expect((await tenant.waitForJob(id)).state).toBe('CANCELLED');
    const child = await tenant.waitForJob(running);
    expect(child.state).toBe('CANCELLED');
    expect(String((child['reason'] as { message: string }).message)).toMatch(
      new RegExp(`job ${id} was cancelled: changed my mind`),
    );
    expect(stepsOf(await job(id))['after']!.jobId).toBeNull();
  });
});

const waitFor = async <T>(probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};
