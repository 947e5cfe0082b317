import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_NAMESPACE, NodeIdSchema, SubjectTokenSchema } from '@gantry/contracts';

/** What one agent process is told by its environment; every field has a usable default on a dev box. */
export interface AgentConfig {
  readonly natsUrl: string;
  readonly namespace: string;
  readonly nodeId: string;
  readonly hostname: string;
  readonly pools: readonly string[];
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly gpu: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly workRoot: string;
  readonly enrolToken: string;
  readonly keepWorkDirs: boolean;
  /** How long a preempted rank has between SIGTERM and SIGKILL to write a checkpoint (C6, D7). */
  readonly preemptGraceMs: number;
}

/** Facts about the host, injected so the defaults are testable. */
export interface HostFacts {
  readonly hostname: string;
  readonly cpus: number;
  readonly totalMemoryBytes: number;
  readonly tmpdir: string;
}

export const currentHost = (): HostFacts => ({
  hostname: os.hostname(),
  cpus: os.availableParallelism?.() ?? os.cpus().length,
  totalMemoryBytes: os.totalmem(),
  tmpdir: os.tmpdir(),
});

/** A hostname made into a subject token: node ids appear in `<ns>.node.<nodeId>.>`. */
export const nodeIdFromHostname = (hostname: string): string => {
  const token = hostname
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 100);
  return token.length > 0 ? token : 'node';
};

const blankToUndefined = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const optionalNumber = (schema: z.ZodNumber) =>
  z.preprocess(
    (value) => (blankToUndefined(value) === undefined ? undefined : Number(value)),
    schema.optional(),
  );

const LabelsFromEnv = z.preprocess(
  (value) => blankToUndefined(value) ?? '',
  z.string().transform((text, ctx) => {
    const labels: Record<string, string> = {};
    for (const pair of text.split(',').filter((p) => p.trim() !== '')) {
      const eq = pair.indexOf('=');
      const key = eq === -1 ? '' : pair.slice(0, eq).trim();
      if (key === '') {
        ctx.addIssue({ code: 'custom', message: `label ${JSON.stringify(pair)} is not k=v` });
        return z.NEVER;
      }
      labels[key] = pair.slice(eq + 1).trim();
    }
    return labels;
  }),
);

const EnvSchema = z.object({
  NATS_URL: z.preprocess(blankToUndefined, z.string().min(1).default('nats://127.0.0.1:4222')),
  GANTRY_NAMESPACE: z.preprocess(blankToUndefined, SubjectTokenSchema.default(DEFAULT_NAMESPACE)),
  GANTRY_NODE_ID: z.preprocess(blankToUndefined, NodeIdSchema.optional()),
  GANTRY_HOSTNAME: z.preprocess(blankToUndefined, z.string().min(1).max(255).optional()),
  GANTRY_POOLS: z.preprocess(
    (value) => blankToUndefined(value) ?? 'cpu',
    z
      .string()
      .transform((text) =>
        text
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p !== ''),
      )
      .pipe(z.array(SubjectTokenSchema).min(1).max(32)),
  ),
  GANTRY_CPU: optionalNumber(z.number().positive().max(100_000)),
  GANTRY_MEMORY_MIB: optionalNumber(z.number().int().positive()),
  GANTRY_GPU: optionalNumber(z.number().int().min(0).max(1_024)),
  GANTRY_LABELS: LabelsFromEnv,
  GANTRY_WORK_ROOT: z.preprocess(
    blankToUndefined,
    z
      .string()
      .refine((p) => path.isAbsolute(p), 'must be an absolute path')
      .optional(),
  ),
  GANTRY_ENROL_TOKEN: z.preprocess(
    blankToUndefined,
    z.string().min(1).max(1_024).default('gantry-dev-enrol'),
  ),
  GANTRY_KEEP_WORKDIRS: z.preprocess(blankToUndefined, z.enum(['0', '1']).default('0')),
  GANTRY_PREEMPT_GRACE_MS: optionalNumber(z.number().int().positive().max(3_600_000)),
});

/** Long enough for a training step to finish and a checkpoint to be written, short enough to matter. */
export const DEFAULT_PREEMPT_GRACE_MS = 10_000;

/** Thrown for a bad environment; main.ts prints it and exits non-zero. */
export class AgentConfigError extends Error {}

export const readAgentConfig = (
  env: Readonly<Record<string, string | undefined>>,
  host: HostFacts = currentHost(),
): AgentConfig => {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`,
    );
    throw new AgentConfigError(`invalid agent configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const nodeId = e.GANTRY_NODE_ID ?? nodeIdFromHostname(host.hostname);
  return {
    natsUrl: e.NATS_URL,
    namespace: e.GANTRY_NAMESPACE,
    nodeId,
    hostname: e.GANTRY_HOSTNAME ?? host.hostname,
    pools: e.GANTRY_POOLS,
    cpu: e.GANTRY_CPU ?? host.cpus,
    memoryMiB: e.GANTRY_MEMORY_MIB ?? Math.max(1, Math.floor(host.totalMemoryBytes / 1_048_576)),
    gpu: e.GANTRY_GPU ?? 0,
    labels: e.GANTRY_LABELS,
    workRoot: e.GANTRY_WORK_ROOT ?? path.join(host.tmpdir, 'gantry-agent', nodeId),
    enrolToken: e.GANTRY_ENROL_TOKEN,
    keepWorkDirs: e.GANTRY_KEEP_WORKDIRS === '1',
    preemptGraceMs: e.GANTRY_PREEMPT_GRACE_MS ?? DEFAULT_PREEMPT_GRACE_MS,
  };
};
