import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ChildJobRequestsSchema, MAX_CHILD_JOBS, type ChildJobRequest } from '@gantry/contracts';
import { ATTEMPT_DIR, OutputStoreError } from './outputs';

/**
 * D5 fan-out on the agent's side: rank 0 may write a manifest of child jobs to
 * `GANTRY_CHILD_JOBS` (a JSON array of `{name, spec}`); on its clean exit the agent reads it and
 * reports the children with the exit, and the job then waits for them. A manifest that is not what
 * it must be fails the rank, saying why on its stderr: nothing of it is reported.
 */
export const CHILD_JOBS_FILE = path.posix.join(ATTEMPT_DIR, 'children.json');
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const parseChildManifest = (text: string): ChildJobRequest[] => {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new OutputStoreError(
      `GANTRY_CHILD_JOBS is not JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const parsed = ChildJobRequestsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
    throw new OutputStoreError(
      `GANTRY_CHILD_JOBS is not a list of at most ${MAX_CHILD_JOBS} child jobs {name, spec}${where}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
};

/** The children rank 0 asked for; none when it wrote no manifest. */
export const readChildManifest = async (workDir: string): Promise<ChildJobRequest[]> => {
  const file = path.join(workDir, CHILD_JOBS_FILE);
  const stat = await fs.lstat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (stat === undefined) return [];
  if (!stat.isFile()) throw new OutputStoreError('GANTRY_CHILD_JOBS is not a plain file');
  if (stat.size > MAX_MANIFEST_BYTES)
    throw new OutputStoreError(
      `GANTRY_CHILD_JOBS is ${stat.size} bytes, more than ${MAX_MANIFEST_BYTES}`,
    );
  return parseChildManifest(await fs.readFile(file, 'utf8'));
};
