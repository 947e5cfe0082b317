import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcStat {
  readonly pid: number;
  readonly state: string;
  readonly pgrp: number;
}

/** Parses /proc/<pid>/stat. The command name is in parentheses and may itself hold `)` or spaces. Pure. */
export const parseProcStat = (text: string): ProcStat | undefined => {
  const close = text.lastIndexOf(')');
  const pid = Number.parseInt(text, 10);
  if (close === -1 || !Number.isInteger(pid)) return undefined;
  const [state, , pgrp] = text.slice(close + 2).split(' ');
  if (state === undefined || pgrp === undefined) return undefined;
  return { pid, state, pgrp: Number(pgrp) };
};

const readStat = (pid: number | string): ProcStat | undefined => {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // gone between readdir and read, or no /proc
  }
};

const hasProc = (): boolean => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
};

/**
 * The processes of a group that can still run. Zombies do not count: on hosts whose init does not reap
 * (this one's does not) an orphaned, killed grandchild stays a zombie for ever, keeping `kill(-pgid, 0)`
 * true although nothing of the job runs any more. Without /proc we can only ask kill(-pgid, 0).
 */
export const liveGroupMembers = (pgid: number): number[] => {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return [];
    // EPERM: the group exists but is not ours to signal; it is alive as far as we can tell.
  }
  if (!hasProc()) return [pgid];
  const live: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(entry);
    if (stat !== undefined && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X')
      live.push(stat.pid);
  }
  return live;
};

/** Whether one pid is a process that can still run (zombies count as gone, as above). */
export const isProcessRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  const stat = readStat(pid);
  return stat === undefined ? !hasProc() : stat.state !== 'Z' && stat.state !== 'X';
};

/** Signals the whole group; a group that is already gone is not an error. */
export const signalGroup = (pgid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
};

/** Polls until no member of the group can run, or the deadline passes; returns the survivors. */
export const waitForGroupGone = async (
  pgid: number,
  timeoutMs: number,
  pollMs = 25,
): Promise<number[]> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const live = liveGroupMembers(pgid);
    if (live.length === 0 || Date.now() >= deadline) return live;
    await sleep(pollMs);
  }
};
