import { promises as fs, readlinkSync } from 'node:fs';
import path from 'node:path';
import { LeaseOfferSchema, type LeaseOffer } from '@gantry/contracts';
import { liveGroupMembers } from '@gantry/process-runner';
import { rankKey } from './lease-decisions';

/**
 * What this agent runs, on disk: one file per started rank, removed once its exit is reported.
 * A killed agent (SIGKILL, OOM, a crash) leaves its ranks' process groups running with nobody to
 * report them or stop them. The agent that starts next on the node reads the ledger, stops those
 * orphans, and reports their ranks as failed under their own epochs, so the controller retries
 * them cleanly instead of a second copy running beside the first.
 */
export interface LedgerEntry {
  readonly offer: LeaseOffer;
  /** Also the process group id. */
  readonly pid: number;
  readonly workDir: string;
}

const ledgerDir = (workRoot: string): string => path.join(workRoot, '.ranks');
const entryPath = (workRoot: string, offer: LeaseOffer): string =>
  path.join(ledgerDir(workRoot), `${rankKey(offer).replace(/:/g, '_')}.json`);

export const recordRank = async (workRoot: string, entry: LedgerEntry): Promise<void> => {
  await fs.mkdir(ledgerDir(workRoot), { recursive: true, mode: 0o700 });
  const file = entryPath(workRoot, entry.offer);
  // Written whole then renamed: a crash mid-write never leaves a half entry to misread.
  await fs.writeFile(`${file}.tmp`, JSON.stringify(entry));
  await fs.rename(`${file}.tmp`, file);
};

export const forgetRank = async (workRoot: string, offer: LeaseOffer): Promise<void> => {
  await fs.rm(entryPath(workRoot, offer), { force: true });
};

/** Entries left by an earlier agent process; unreadable ones are dropped, they name nothing safe. */
export const readLedger = async (workRoot: string): Promise<LedgerEntry[]> => {
  const dir = ledgerDir(workRoot);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const entries: LedgerEntry[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      const raw = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
      const offer = LeaseOfferSchema.parse(raw['offer']);
      const pid = Number(raw['pid']);
      const workDir = String(raw['workDir']);
      if (!Number.isSafeInteger(pid) || pid <= 1) throw new Error('bad pid');
      entries.push({ offer, pid, workDir });
    } catch {
      await fs.rm(file, { force: true });
    }
  }
  return entries;
};

/**
 * The members of the entry's process group that still work in its work directory. The cwd check
 * keeps a recycled pid (after a reboot, say) from pointing the agent at somebody else's processes.
 */
export const orphansOf = (entry: LedgerEntry): number[] =>
  liveGroupMembers(entry.pid).filter((pid) => {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      return cwd === entry.workDir || cwd.startsWith(`${entry.workDir}${path.sep}`);
    } catch {
      return false;
    }
  });

export const killOrphans = (entry: LedgerEntry): number[] => {
  const orphans = orphansOf(entry);
  for (const pid of orphans) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  return orphans;
};
