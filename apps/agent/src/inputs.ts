import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { type LeaseOffer, type SubjectCatalogue } from '@gantry/contracts';
import { commandEnvelope, sendCommand } from '@gantry/messaging';

export type InputSpec = LeaseOffer['inputs'][number];

/** Staging's answer for one ref: where to download it and what it must be. */
export const ResolvedFileSchema = z.object({
  ref: z.string().min(1),
  url: z.url(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/i),
  size: z.number().int().min(0),
  expiresAt: z.string(),
});
export type ResolvedFile = z.output<typeof ResolvedFileSchema>;
const ResolveInputsReplySchema = z.object({ files: z.array(ResolvedFileSchema) });

/** Asks staging for signed URLs of a job's input refs. Injected, so jobs and tests without staging skip it. */
export type InputResolver = (request: {
  readonly tenant: string;
  readonly jobId: string;
  readonly refs: readonly string[];
}) => Promise<readonly ResolvedFile[]>;

export type Fetcher = (url: string) => Promise<Response>;

/** Why a rank's inputs could not be staged; the message goes to the rank's stderr log. */
export class InputStagingError extends Error {}

/** Where an input lands, relative to the work dir. */
export const inputRelativePath = (input: Pick<InputSpec, 'name' | 'path'>): string =>
  input.path ?? path.posix.join('inputs', input.name);

/** The resolver over `<ns>.cmd.staging.resolve-inputs`. */
export const natsInputResolver =
  (
    nc: NatsConnection,
    subjects: SubjectCatalogue,
    actor: string,
    timeoutMs = 10_000,
  ): InputResolver =>
  async ({ tenant, jobId, refs }) => {
    const reply = await sendCommand<unknown>(
      nc,
      subjects,
      'staging',
      'resolve-inputs',
      commandEnvelope(
        'ResolveInputs',
        { jobId, refs: [...refs] },
        { tenant, correlationId: `job-${jobId}`, actor },
      ),
      { timeoutMs },
    );
    const parsed = ResolveInputsReplySchema.safeParse(reply);
    if (!parsed.success)
      throw new InputStagingError('staging answered resolve-inputs with a malformed reply');
    return parsed.data.files;
  };

const inside = (root: string, relative: string): string => {
  const target = path.resolve(root, relative);
  const rel = path.relative(path.resolve(root), target);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new InputStagingError(`input path ${JSON.stringify(relative)} leaves the work dir`);
  }
  return target;
};

export interface StageInputsOptions {
  readonly tenant: string;
  readonly jobId: string;
  readonly inputs: readonly InputSpec[];
  /** A scratch dir of the agent's, filled with the inputs at their relative paths. */
  readonly dir: string;
  readonly resolver: InputResolver;
  readonly fetcher?: Fetcher;
}

/**
 * Downloads every input and checks its size and sha256 before the job may start; a file that does
 * not match is never handed to the job. Returns the relative paths written under `dir`.
 */
export const stageInputs = async (options: StageInputsOptions): Promise<string[]> => {
  if (options.inputs.length === 0) return [];
  const fetcher = options.fetcher ?? ((url: string) => fetch(url));
  let files: readonly ResolvedFile[];
  try {
    files = await options.resolver({
      tenant: options.tenant,
      jobId: options.jobId,
      refs: [...new Set(options.inputs.map((i) => i.ref))],
    });
  } catch (err) {
    throw new InputStagingError(`staging could not resolve the inputs: ${(err as Error).message}`);
  }
  const byRef = new Map(files.map((f) => [f.ref, f]));
  const written: string[] = [];
  for (const input of options.inputs) {
    const file = byRef.get(input.ref);
    if (file === undefined)
      throw new InputStagingError(`staging did not resolve input ${input.name} (${input.ref})`);
    const relative = inputRelativePath(input);
    const target = inside(options.dir, relative);
    let body: Buffer;
    try {
      const response = await fetcher(file.url);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      body = Buffer.from(await response.arrayBuffer());
    } catch (err) {
      throw new InputStagingError(
        `download of input ${input.name} failed: ${(err as Error).message}`,
      );
    }
    if (body.length !== file.size) {
      throw new InputStagingError(
        `input ${input.name}: got ${body.length} bytes, expected ${file.size}`,
      );
    }
    const digest = createHash('sha256').update(body).digest('hex');
    if (digest !== file.sha256.toLowerCase()) {
      throw new InputStagingError(
        `input ${input.name}: sha256 ${digest} does not match ${file.sha256}`,
      );
    }
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, body, { mode: 0o644 });
    written.push(relative);
  }
  return written;
};

/** Moves staged inputs into the fresh work dir (same filesystem: renames), owned by the job's user. */
export const placeStagedInputs = async (
  stagingDir: string,
  workDir: string,
  relativePaths: readonly string[],
  owner?: { readonly uid: number; readonly gid: number },
): Promise<void> => {
  for (const relative of relativePaths) {
    const target = inside(workDir, relative);
    const parents: string[] = [];
    for (let dir = path.dirname(target); dir !== path.resolve(workDir); dir = path.dirname(dir))
      parents.unshift(dir);
    for (const dir of parents) {
      await fs.mkdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      if (owner) await fs.chown(dir, owner.uid, owner.gid);
    }
    await fs.rename(inside(stagingDir, relative), target);
    if (owner) await fs.chown(target, owner.uid, owner.gid);
  }
};
