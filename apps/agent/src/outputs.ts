import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { type NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import {
  FileNameSchema,
  GantryError,
  type LeaseOffer,
  type OutputFile,
  type SubjectCatalogue,
} from '@gantry/contracts';
import { commandEnvelope, sendCommand } from '@gantry/messaging';

/**
 * D4 and D7 on the agent's side: the files an attempt leaves for the platform (its outputs, its
 * checkpoints) are hashed here and stored through staging, each under a fresh staged file whose
 * upload staging checks against the size and digest announced. The controller then checks the
 * report against what staging recorded; nothing the agent says about its uploads is taken on trust.
 */

/** Where the attempt's platform files live, inside its own work dir (so, attempt-scoped). */
export const ATTEMPT_DIR = '.gantry';
export const OUTPUT_DIR = path.posix.join(ATTEMPT_DIR, 'outputs');
export const PROGRESS_FILE = path.posix.join(ATTEMPT_DIR, 'progress.jsonl');
export const CHECKPOINT_DIR = path.posix.join(ATTEMPT_DIR, 'checkpoint');

/**
 * Why an attempt's files could not be stored; the message goes to the rank's stderr log.
 * `retryable`: staging was unreachable or failed, not a refusal of these bytes.
 */
export class OutputStoreError extends Error {
  constructor(
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

/** A file to store: what the agent measured before sending it. */
export interface LocalFile {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** One staged file created for an upload: its ref, and the signed URL its bytes go to. */
export interface CreatedFile {
  readonly ref: string;
  readonly uploadUrl: string;
}

/**
 * Staging's create-attempt-file for the job's tenant; injected so tests and jobs without staging
 * skip it. The file records the job and the lease epoch it was made under, so staging can collect
 * it if the job never commits it.
 */
export type FileCreator = (request: {
  readonly tenant: string;
  readonly jobId: string;
  readonly leaseEpoch: number;
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
}) => Promise<CreatedFile>;

export type Uploader = (url: string, file: LocalFile) => Promise<Response>;

const CreatedFileSchema = z.object({ fileId: z.string().min(1), uploadUrl: z.url() });

/**
 * create-attempt-file over `<ns>.cmd.staging.create-attempt-file`, as the job's tenant (its files
 * are the tenant's).
 */
export const natsFileCreator =
  (
    nc: NatsConnection,
    subjects: SubjectCatalogue,
    actor: string,
    timeoutMs = 10_000,
  ): FileCreator =>
  async ({ tenant, jobId, leaseEpoch, name, size, sha256 }) => {
    const reply = await sendCommand<unknown>(
      nc,
      subjects,
      'staging',
      'create-attempt-file',
      commandEnvelope(
        'CreateAttemptFile',
        { name, size, sha256, jobId, leaseEpoch },
        {
          tenant,
          correlationId: `job-${jobId}`,
          actor,
        },
      ),
      { timeoutMs },
    );
    const parsed = CreatedFileSchema.safeParse(reply);
    if (!parsed.success)
      throw new OutputStoreError('staging answered create-attempt-file with a malformed reply');
    return { ref: parsed.data.fileId, uploadUrl: parsed.data.uploadUrl };
  };

/** Streams the file to its signed URL: an output is never held whole in memory. */
export const httpUploader: Uploader = (url, file) =>
  fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(file.size) },
    body: Readable.toWeb(createReadStream(file.path)) as ReadableStream<Uint8Array>,
    duplex: 'half',
  } as RequestInit);

export const sha256OfFile = async (file: string): Promise<{ size: number; sha256: string }> => {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
};

/**
 * What a rank's output files are named among the job's (D4): rank 0's keep their own names, so a
 * single-node job's outputs are exactly its files; another rank's are prefixed with its rank, so
 * the ranks of a gang cannot overwrite one another's.
 */
export const rankOutputPrefix = (rank: number): string => (rank === 0 ? '' : `rank${rank}-`);

/**
 * The regular files directly in the output dir, each named `prefix` + its file name. A
 * subdirectory, a link or a name staging cannot carry is left out, and said so in `skipped`,
 * rather than stored under a name that lies.
 */
export const collectOutputs = async (
  outputDir: string,
  prefix = '',
): Promise<{ files: LocalFile[]; skipped: string[] }> => {
  const entries = await fs.readdir(outputDir, { withFileTypes: true }).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  });
  const files: LocalFile[] = [];
  const skipped: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const name = `${prefix}${entry.name}`;
    if (!entry.isFile() || !FileNameSchema.safeParse(name).success) {
      skipped.push(entry.name);
      continue;
    }
    const full = path.join(outputDir, entry.name);
    files.push({ name, path: full, ...(await sha256OfFile(full)) });
  }
  return { files, skipped };
};

export type DeclaredOutput = NonNullable<LeaseOffer['outputs']>[number];

/**
 * The spec's declared outputs (D4), found at their paths in the work dir after a clean exit, each
 * under its declared name. A declared output is a promise of the job's: one that is missing, not a
 * regular file, or (through a link) outside the work dir fails the rank, naming every such output,
 * before anything is stored.
 */
export const collectDeclaredOutputs = async (
  workDir: string,
  declared: readonly DeclaredOutput[],
): Promise<LocalFile[]> => {
  const root = await fs.realpath(workDir);
  const files: LocalFile[] = [];
  const problems: string[] = [];
  for (const output of declared) {
    const where = `${output.name} (${output.path})`;
    const target = path.resolve(root, output.path);
    try {
      const real = await fs.realpath(target);
      const relative = path.relative(root, real);
      if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
        problems.push(`${where} is not inside the work dir`);
      } else if (!(await fs.stat(real)).isFile()) {
        problems.push(`${where} is not a regular file`);
      } else {
        files.push({ name: output.name, path: real, ...(await sha256OfFile(real)) });
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(
        code === 'ENOENT' || code === 'ENOTDIR'
          ? `${where} is missing`
          : `${where} could not be read (${code ?? (err as Error).message})`,
      );
    }
  }
  if (problems.length > 0)
    throw new OutputStoreError(`declared outputs not produced: ${problems.join('; ')}`);
  return files;
};

/** The first name two of the files share, if any: one attempt's outputs are one set of names. */
export const firstDuplicateName = (files: readonly LocalFile[]): string | undefined => {
  const seen = new Set<string>();
  for (const { name } of files) {
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
};

export interface StoreFilesOptions {
  readonly tenant: string;
  readonly jobId: string;
  readonly leaseEpoch: number;
  readonly files: readonly LocalFile[];
  readonly create: FileCreator;
  readonly upload?: Uploader;
}

/**
 * Stores each file as a fresh staged file: no ref is ever written twice, so a zombie attempt's
 * upload can never replace bytes another attempt committed. Staging refuses an upload whose size
 * or digest is not the one announced, so a file that changed while it was read fails here.
 */
export const storeFiles = async (options: StoreFilesOptions): Promise<OutputFile[]> => {
  const upload = options.upload ?? httpUploader;
  const stored: OutputFile[] = [];
  for (const file of options.files) {
    let created: CreatedFile;
    let response: Response;
    try {
      created = await options.create({
        tenant: options.tenant,
        jobId: options.jobId,
        leaseEpoch: options.leaseEpoch,
        name: file.name,
        size: file.size,
        sha256: file.sha256,
      });
      response = await upload(created.uploadUrl, file);
    } catch (err) {
      throw new OutputStoreError(
        `storing ${file.name} failed: ${(err as Error).message}`,
        !(err instanceof GantryError) || err.retryable,
      );
    }
    if (!response.ok) {
      const body = await response.text().catch(() => '');
      throw new OutputStoreError(
        `storing ${file.name} failed: staging answered ${response.status} ${body.slice(0, 200)}`,
        response.status >= 500,
      );
    }
    stored.push({ name: file.name, ref: created.ref, size: file.size, sha256: file.sha256 });
  }
  return stored;
};
