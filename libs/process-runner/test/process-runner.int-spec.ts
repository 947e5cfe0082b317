import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type AttemptHandle,
  isProcessRunnerError,
  type OutputChunk,
  removeWorkDir,
  startAttempt,
  type StartAttemptOptions,
} from '../src';

/**
 * Real processes. Liveness is checked here independently of the runner's own helper: a pid is gone when
 * /proc has no entry or shows a zombie (this machine's init does not reap orphans, so killed grandchildren
 * stay zombies; they run nothing).
 */
const running = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
};

const groupMembersRunning = (pgid: number): number[] =>
  readdirPids().filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(pgrp) === pgid && state !== 'Z';
    } catch {
      return false;
    }
  });

const readdirPids = (): number[] =>
  readdirSync('/proc')
    .filter((e: string) => /^\d+$/.test(e))
    .map(Number);

const passwdUid = (name: string): number => {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  return Number(line?.split(':')[2]);
};

let workRoot: string;
let jobCounter = 0;

beforeAll(async () => {
  workRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'gantry-runner-'));
  // mkdtemp makes 0700; a job running as an unprivileged user must be able to traverse the root.
  await fs.chmod(workRoot, 0o711);
});

afterAll(async () => {
  await fs.rm(workRoot, { recursive: true, force: true });
});

interface Run {
  readonly handle: AttemptHandle;
  readonly chunks: OutputChunk[];
  /** Resolves with the first `count` stdout lines (for commands that print pids before blocking). */
  stdoutLines(count: number): Promise<string[]>;
}

const run = async (
  command: string[],
  overrides: Partial<StartAttemptOptions> = {},
): Promise<Run> => {
  const chunks: OutputChunk[] = [];
  const waiters: { count: number; resolve: (lines: string[]) => void }[] = [];
  const stdout = (): string[] => chunks.filter((c) => c.stream === 'stdout').map((c) => c.line);
  const handle = await startAttempt({
    jobId: `job-${process.pid}-${++jobCounter}`,
    attempt: 0,
    rank: 0,
    worldSize: 1,
    hosts: ['node-a'],
    coordinator: 'node-a:29500',
    command,
    workRoot,
    runAs: 'auto',
    onOutput: (chunk) => {
      chunks.push(chunk);
      for (const w of waiters.filter((w) => stdout().length >= w.count))
        w.resolve(stdout().slice(0, w.count));
    },
    ...overrides,
  });
  return {
    handle,
    chunks,
    stdoutLines: (count) =>
      new Promise((resolve) => {
        if (stdout().length >= count) resolve(stdout().slice(0, count));
        else waiters.push({ count, resolve });
      }),
  };
};

const linesOf = (chunks: readonly OutputChunk[], stream: 'stdout' | 'stderr'): string[] =>
  chunks.filter((c) => c.stream === stream).map((c) => c.line);

describe('startAttempt with real processes', () => {
  it('gives the job the rank environment and nothing of the agent environment', async () => {
    process.env['DATABASE_URL'] = 'postgres://agent:secret@db/gantry';
    process.env['GANTRY_ADMIN_TOKEN'] = 'agent-admin-token';
    try {
      const { handle, chunks } = await run(['/usr/bin/env'], {
        jobId: 'env-job',
        attempt: 4,
        rank: 1,
        worldSize: 3,
        hosts: ['node-a', 'node-b', 'node-c'],
        coordinator: 'node-a:29500',
        env: { MODEL: 'large', GANTRY_RANK: '99' },
        runtime: 'torchrun',
      });
      expect(await handle.exited).toMatchObject({ reason: 'exited', exitCode: 0 });
      const env = Object.fromEntries(
        linesOf(chunks, 'stdout').map((l) => [
          l.slice(0, l.indexOf('=')),
          l.slice(l.indexOf('=') + 1),
        ]),
      );
      expect(env).toMatchObject({
        GANTRY_JOB_ID: 'env-job',
        GANTRY_ATTEMPT: '4',
        GANTRY_RANK: '1',
        GANTRY_WORLD_SIZE: '3',
        GANTRY_HOSTS: 'node-a,node-b,node-c',
        GANTRY_COORDINATOR: 'node-a:29500',
        MASTER_ADDR: 'node-a',
        MASTER_PORT: '29500',
        RANK: '1',
        WORLD_SIZE: '3',
        MODEL: 'large',
        HOME: handle.workDir,
      });
      expect(env).not.toHaveProperty('DATABASE_URL');
      expect(env).not.toHaveProperty('GANTRY_ADMIN_TOKEN');
      // Nothing beyond what we set: no variable of the agent (or of Jest) leaks.
      for (const name of Object.keys(env)) {
        expect([
          'PATH',
          'HOME',
          'TMPDIR',
          'LANG',
          'MODEL',
          'MASTER_ADDR',
          'MASTER_PORT',
          'RANK',
          'WORLD_SIZE',
        ]).toContain(name.startsWith('GANTRY_') ? 'PATH' : name);
      }
    } finally {
      delete process.env['DATABASE_URL'];
      delete process.env['GANTRY_ADMIN_TOKEN'];
    }
  });

  it("adds the agent's own GANTRY_* variables, but never in place of the gang contract", async () => {
    const { handle, chunks } = await run(['sh', '-c', 'echo "$GANTRY_OUTPUT_DIR $GANTRY_RANK"'], {
      platformEnv: { GANTRY_OUTPUT_DIR: '/out' },
    });
    expect(await handle.exited).toMatchObject({ exitCode: 0 });
    expect(linesOf(chunks, 'stdout')).toEqual(['/out 0']);

    const refused: Record<string, string>[] = [
      { GANTRY_RANK: '7' },
      { GANTRY_WORK_DIR: '/' },
      { PATH: '/x' },
    ];
    for (const platformEnv of refused) {
      await expect(run(['true'], { platformEnv })).rejects.toMatchObject({
        refusal: 'invalid-options',
      });
    }
  });

  it('streams stdout and stderr line by line, each in order, under one gap-free seq', async () => {
    const script = 'for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; printf "no newline"';
    const { handle, chunks } = await run(['sh', '-c', script]);
    expect(await handle.exited).toMatchObject({ reason: 'exited', exitCode: 0 });
    expect(linesOf(chunks, 'stdout')).toEqual([
      'out1',
      'out2',
      'out3',
      'out4',
      'out5',
      'no newline',
    ]);
    expect(linesOf(chunks, 'stderr')).toEqual(['err1', 'err2', 'err3', 'err4', 'err5']);
    // Which of two pipes the kernel hands us first is not the child's write order, so only the
    // numbering across streams is asserted: delivered in seq order, 1..n with no gap or repeat.
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i + 1));
  });

  it.each([
    ['success', 0],
    ['failure', 3],
  ])('reports the exit code on %s', async (_name, code) => {
    const { handle } = await run(['sh', '-c', `exit ${code}`]);
    const exit = await handle.exited;
    expect(exit).toMatchObject({ reason: 'exited', exitCode: code, signal: null, survivors: [] });
    expect(exit.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('kills the whole process tree, grandchildren included', async () => {
    const { handle, stdoutLines } = await run([
      'sh',
      '-c',
      'sleep 300 & echo $!; sleep 300 & echo $!; wait',
    ]);
    const grandchildren = (await stdoutLines(2)).map(Number);
    const pgid = handle.pid as number;
    expect(grandchildren.every(running)).toBe(true);
    expect(groupMembersRunning(pgid).length).toBe(3);

    const exit = await handle.kill('cancelled', 2000);

    expect(exit).toMatchObject({
      reason: 'killed',
      killCause: 'cancelled',
      exitCode: null,
      signal: 'SIGTERM',
      survivors: [],
    });
    for (const pid of [pgid, ...grandchildren]) expect(running(pid)).toBe(false);
    expect(groupMembersRunning(pgid)).toEqual([]);
  });

  it('SIGKILLs a group that ignores SIGTERM once the grace period is over', async () => {
    const { handle, stdoutLines } = await run([
      'sh',
      '-c',
      "trap '' TERM; sleep 300 & echo $!; wait; wait",
    ]);
    const [sleeper] = (await stdoutLines(1)).map(Number);

    const exit = await handle.kill('lease-lost', 500);

    expect(exit).toMatchObject({
      reason: 'killed',
      killCause: 'lease-lost',
      signal: 'SIGKILL',
      survivors: [],
    });
    expect(exit.durationMs).toBeGreaterThanOrEqual(400); // it got its grace, not an immediate SIGKILL
    expect(running(sleeper as number)).toBe(false);
  });

  it('kills the job at its max runtime', async () => {
    const { handle } = await run(['sleep', '300'], { maxRuntimeMs: 300, killGraceMs: 1000 });
    const exit = await handle.exited;
    expect(exit).toMatchObject({
      reason: 'max-runtime',
      killCause: 'max-runtime',
      signal: 'SIGTERM',
    });
    expect(exit.durationMs).toBeLessThan(60_000);
    expect(running(handle.pid as number)).toBe(false);
  });

  it('kills what the job left running in the background once it exits', async () => {
    const { handle, chunks } = await run(['sh', '-c', 'sleep 300 & echo $!; exit 0']);
    expect(await handle.exited).toMatchObject({ reason: 'exited', exitCode: 0, survivors: [] });
    expect(running(Number(linesOf(chunks, 'stdout')[0]))).toBe(false);
  });

  it.each([
    ['a command that does not exist', ['no-such-command-gantry'], 'ENOENT'],
    ['a file that is not executable', ['<workRoot>/not-executable.sh'], 'EACCES'],
  ])('reports %s as spawn-failed without throwing', async (_name, argv, code) => {
    const command = argv.map((a) => a.replace('<workRoot>', workRoot));
    if (command[0]?.startsWith(workRoot))
      await fs.writeFile(command[0], 'echo should not run\n', { mode: 0o644 });
    const { handle } = await run(command);
    expect(handle.pid).toBeUndefined();
    const exit = await handle.exited;
    expect(exit).toMatchObject({ reason: 'spawn-failed', exitCode: null, signal: null });
    expect(exit.message).toContain(JSON.stringify(command[0]));
    expect(exit.message).toContain(code);
    expect(await handle.kill('cancelled')).toBe(exit);
  });

  it('gives each attempt a fresh work dir and refuses to reuse one', async () => {
    const jobId = `fresh-${process.pid}`;
    const first = await run(['sh', '-c', 'echo secret > left-over; ls -A'], { jobId, attempt: 0 });
    await first.handle.exited;
    expect(first.handle.workDir).toBe(path.join(workRoot, jobId, '0', '0'));
    expect(linesOf(first.chunks, 'stdout')).toEqual(['left-over']);

    const second = await run(['sh', '-c', 'pwd; ls -A'], { jobId, attempt: 1 });
    await second.handle.exited;
    expect(linesOf(second.chunks, 'stdout')).toEqual([path.join(workRoot, jobId, '1', '0')]);

    const rerun = run(['true'], { jobId, attempt: 0 });
    const refused: unknown = await rerun.catch((err: unknown) => err);
    expect(isProcessRunnerError(refused) && refused.refusal).toBe('work-dir-exists');
    // The refused rerun did not touch the first attempt's files.
    expect(await fs.readFile(path.join(first.handle.workDir, 'left-over'), 'utf8')).toBe(
      'secret\n',
    );

    await removeWorkDir(first.handle.workDir, workRoot);
    await expect(fs.stat(first.handle.workDir)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(removeWorkDir(path.join(workRoot, '..'), workRoot)).rejects.toMatchObject({
      refusal: 'outside-work-root',
    });
    await expect(removeWorkDir(workRoot, workRoot)).rejects.toMatchObject({
      refusal: 'outside-work-root',
    });
    await expect(fs.stat(workRoot)).resolves.toBeDefined();
  });

  it('runs the job as an unprivileged user that can write its own work dir', async () => {
    const expectedUid = process.getuid?.() === 0 ? passwdUid('nobody') : process.getuid?.();
    const { handle, chunks } = await run(['sh', '-c', 'id -u; echo data > written && cat written']);
    expect(await handle.exited).toMatchObject({ reason: 'exited', exitCode: 0 });
    expect(linesOf(chunks, 'stdout')).toEqual([String(expectedUid), 'data']);
    expect(expectedUid).not.toBe(0);
    const stat = await fs.stat(handle.workDir);
    expect(stat.uid).toBe(expectedUid);
    expect(stat.mode & 0o777).toBe(0o700);
  });

  it('does not let a throwing onOutput stop the run', async () => {
    const errors: unknown[] = [];
    const handle = await startAttempt({
      jobId: `throwing-${process.pid}`,
      attempt: 0,
      rank: 0,
      worldSize: 1,
      hosts: ['h'],
      coordinator: 'h:1',
      command: ['sh', '-c', 'echo a; echo b; exit 5'],
      workRoot,
      onOutput: () => {
        throw new Error('relay down');
      },
      onOutputError: (err) => errors.push(err),
    });
    expect(await handle.exited).toMatchObject({ reason: 'exited', exitCode: 5 });
    expect(errors).toHaveLength(2);
  });
});

/** Independent of the runner's probe: is /sys/fs/cgroup itself a cgroup2 mount offering cpu and memory? */
const hostHasCgroupV2Limits = (): boolean => {
  const mount = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[4] === '/sys/fs/cgroup');
  const fstype = mount?.[mount.indexOf('-') + 1];
  if (fstype !== 'cgroup2') return false;
  const controllers = readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/);
  return controllers.includes('cpu') && controllers.includes('memory');
};

describe('cgroup limits', () => {
  it('applies memory and cpu limits where the host has cgroup v2, and says unavailable where not', async () => {
    const { handle, chunks } = await run(['cat', '/proc/self/cgroup'], {
      limits: { cpu: 0.5, memoryMiB: 64 },
    });
    await handle.exited;
    if (hostHasCgroupV2Limits()) {
      expect(handle.limits).toBe('applied');
      expect(linesOf(chunks, 'stdout').join('\n')).toContain(`/gantry/`);
    } else {
      // This machine: /sys/fs/cgroup is a tmpfs of v1 hierarchies. The job still runs, unlimited, and says so.
      expect(handle.limits).toBe('unavailable');
      expect(handle.limitsDetail).toMatch(/not a cgroup v2 hierarchy/);
      expect(linesOf(chunks, 'stdout').length).toBeGreaterThan(0);
    }
  });

  it('finds a cgroup v2 mount that lacks the cpu and memory controllers unusable', async () => {
    const unified = '/sys/fs/cgroup/unified';
    let controllers: string[] | undefined;
    try {
      controllers = readFileSync(path.join(unified, 'cgroup.controllers'), 'utf8').split(/\s+/);
    } catch {
      controllers = undefined;
    }
    const { handle } = await run(['true'], { limits: { memoryMiB: 64 }, cgroupRoot: unified });
    await handle.exited;
    if (controllers !== undefined && !controllers.includes('memory')) {
      expect(handle.limits).toBe('unavailable');
      expect(handle.limitsDetail).toMatch(/does not offer the memory controller/);
    } else {
      expect(handle.limits).not.toBe('not-requested');
    }
  });

  it('reports not-requested when no limits are asked for', async () => {
    const { handle } = await run(['true']);
    await handle.exited;
    expect(handle.limits).toBe('not-requested');
  });
});
