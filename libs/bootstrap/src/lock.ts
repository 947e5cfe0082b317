import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serversUnavailable } from './bootstrap-error';
import { isAlive, sleep } from './processes';
import type { BootstrapPaths } from './state';

const WAIT_MS = 120_000;

/**
 * One bootstrap at a time per state directory: two `ensure`s racing from a cold start would
 * each start a Postgres on the same data directory. A lock left by a process that died is taken
 * over.
 */
export const withBootstrapLock = async <T>(
  paths: BootstrapPaths,
  work: () => Promise<T>,
): Promise<T> => {
  const lockFile = join(paths.dir, 'bootstrap.lock');
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(lockFile, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) {
        rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        throw serversUnavailable(`another bootstrap (pid ${holder}) still holds ${lockFile}`);
      }
      await sleep(200);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lockFile, { force: true });
  }
};
