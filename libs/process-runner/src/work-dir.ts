import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { ProcessRunnerError } from './errors';
import { type RunAs } from './run-as';

/** A job id becomes a path segment: nothing that could climb out of the work root or hide (`.`, `..`, `/`). */
const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface WorkDirCoordinates {
  readonly workRoot: string;
  readonly jobId: string;
  readonly attempt: number;
  readonly rank: number;
}

/** `<workRoot>/<jobId>/<attempt>/<rank>`, after checking every part is a plain segment. Pure. */
export const workDirPath = ({ workRoot, jobId, attempt, rank }: WorkDirCoordinates): string => {
  if (!path.isAbsolute(workRoot)) {
    throw new ProcessRunnerError(
      'invalid-options',
      `workRoot must be absolute, got ${JSON.stringify(workRoot)}`,
    );
  }
  if (!SAFE_SEGMENT.test(jobId)) {
    throw new ProcessRunnerError(
      'invalid-options',
      `jobId ${JSON.stringify(jobId)} is not a safe path segment`,
    );
  }
  for (const [name, value] of [
    ['attempt', attempt],
    ['rank', rank],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ProcessRunnerError(
        'invalid-options',
        `${name} must be a non-negative integer, got ${value}`,
      );
    }
  }
  return path.join(path.resolve(workRoot), jobId, String(attempt), String(rank));
};

/**
 * Throws unless `target` lies strictly below `workRoot` (the root itself is refused too). Lexical, on
 * resolved paths; removeWorkDir adds a realpath check for symlinked ancestors.
 */
export const assertInsideWorkRoot = (workRoot: string, target: string): void => {
  const relative = path.relative(path.resolve(workRoot), path.resolve(target));
  if (
    relative === '' ||
    relative === '..' ||
    relative.startsWith(`..${path.sep}`) ||
    path.isAbsolute(relative)
  ) {
    throw new ProcessRunnerError(
      'outside-work-root',
      `${target} is not inside the work root ${workRoot}`,
      {
        workRoot,
        target,
      },
    );
  }
};

/** Whether `uid`/`gid` (no supplementary groups: spawn drops them) may traverse a directory with this stat. */
export const canSearch = (
  stat: { uid: number; gid: number; mode: number },
  uid: number,
  gid: number,
): boolean => {
  if (uid === 0) return true;
  if (stat.uid === uid) return (stat.mode & 0o100) !== 0;
  if (stat.gid === gid) return (stat.mode & 0o010) !== 0;
  return (stat.mode & 0o001) !== 0;
};

/**
 * Creates the attempt's own work dir, owned by the user the job runs as, mode 0700 so other jobs
 * (even ones running as the same fallback user through a listing of the parents) cannot read it. The
 * job and attempt levels are 0711: traversable, not listable. The last mkdir is not recursive, so an
 * existing dir is an error, atomically: a rerun of an attempt number must never see a previous run's files.
 */
export const createWorkDir = async (
  coords: WorkDirCoordinates,
  runAs: RunAs | undefined,
): Promise<string> => {
  const workDir = workDirPath(coords);
  const parent = path.dirname(workDir);
  const firstCreated = await fs.mkdir(parent, { recursive: true, mode: 0o711 });
  if (firstCreated !== undefined) {
    // Only dirs we created get their mode fixed (a umask of 077 would make them unsearchable);
    // an operator's existing layout is left alone.
    for (let dir = parent; dir.length >= firstCreated.length; dir = path.dirname(dir)) {
      await fs.chmod(dir, 0o711);
      if (dir === firstCreated) break;
    }
  }
  if (runAs !== undefined) await assertSearchable(parent, runAs);
  try {
    await fs.mkdir(workDir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ProcessRunnerError(
        'work-dir-exists',
        `work dir ${workDir} already exists; an attempt never reuses one`,
        {
          workDir,
        },
      );
    }
    throw err;
  }
  await fs.chmod(workDir, 0o700);
  if (runAs !== undefined) await fs.chown(workDir, runAs.uid, runAs.gid);
  return workDir;
};

/** Fails early, with a message naming the dir, where the job would otherwise die in chdir with a bare EACCES. */
const assertSearchable = async (dir: string, runAs: RunAs): Promise<void> => {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const stat = await fs.stat(current);
    if (!canSearch(stat, runAs.uid, runAs.gid)) {
      throw new ProcessRunnerError(
        'work-root-not-searchable',
        `${current} (mode ${(stat.mode & 0o777).toString(8)}) cannot be traversed by uid ${runAs.uid}; make the work root at least 0711`,
        { dir: current, uid: runAs.uid },
      );
    }
    if (current === path.dirname(current)) return;
  }
};

/** Removes one attempt's work dir; refuses anything that is not strictly inside the work root. */
export const removeWorkDir = async (workDir: string, workRoot: string): Promise<void> => {
  assertInsideWorkRoot(workRoot, workDir);
  let realRoot: string;
  let realTarget: string;
  try {
    realRoot = await fs.realpath(workRoot);
    // Resolve the parent, not the dir itself: a symlink in the last position is removed as a link, but a
    // symlinked ancestor pointing elsewhere must not make us delete outside the root.
    realTarget = path.join(
      await fs.realpath(path.dirname(path.resolve(workDir))),
      path.basename(workDir),
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  assertInsideWorkRoot(realRoot, realTarget);
  await fs.access(path.dirname(realTarget), fsConstants.W_OK);
  await fs.rm(realTarget, { recursive: true, force: true });
};
