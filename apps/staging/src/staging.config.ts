/**
 * Staging's settings, from the environment:
 *
 * - GANTRY_STAGING_PORT: the blob HTTP server's port (default 8081; 0 picks a free one).
 * - GANTRY_STAGING_HOST: the address it listens on (default 0.0.0.0).
 * - GANTRY_STAGING_URL: the base URL put into signed URLs, as agents and tenants reach it
 *   (default http://127.0.0.1:<port>).
 * - GANTRY_STAGING_SECRET: the HMAC key of the signed URLs. The default is a published dev value:
 *   anyone can mint URLs with it, so set a real secret anywhere but a laptop.
 * - GANTRY_STAGING_MAX_UPLOAD_BYTES: the largest upload taken (default 256 MiB).
 * - GANTRY_STAGING_ORPHAN_GRACE_SECONDS: how long an attempt's output or checkpoint that its job
 *   never committed is kept before it is deleted (default 3600; D4).
 * - GANTRY_STAGING_ORPHAN_SWEEP_SECONDS: how often such files are looked for (default 300; 0 off).
 */
export const DEV_STAGING_SECRET = 'gantry-dev-staging-secret-do-not-use-in-production';
export const DEFAULT_STAGING_PORT = 8081;
export const DEFAULT_MAX_UPLOAD_BYTES = 256 * 1024 * 1024;
/** How long a tenant has to PUT the bytes after creating a file. */
export const UPLOAD_URL_TTL_SECONDS = 60 * 60;
/** How long an agent has to start fetching an input it resolved. */
export const DOWNLOAD_URL_TTL_SECONDS = 10 * 60;

export interface StagingHttpConfig {
  readonly port: number;
  readonly host: string;
  /** Undefined: derived from the port actually bound. */
  readonly publicUrl: string | undefined;
  readonly secret: string;
  readonly maxUploadBytes: number;
}

const wholeNumber = (env: NodeJS.ProcessEnv, name: string, fallback: number, min: number) => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new Error(`${name} must be a whole number >= ${min}, not ${JSON.stringify(raw)}`);
  }
  return value;
};

export const readStagingHttpConfig = (env: NodeJS.ProcessEnv): StagingHttpConfig => ({
  port: wholeNumber(env, 'GANTRY_STAGING_PORT', DEFAULT_STAGING_PORT, 0),
  host: env['GANTRY_STAGING_HOST'] || '0.0.0.0',
  publicUrl: env['GANTRY_STAGING_URL'] || undefined,
  secret: env['GANTRY_STAGING_SECRET'] || DEV_STAGING_SECRET,
  maxUploadBytes: wholeNumber(env, 'GANTRY_STAGING_MAX_UPLOAD_BYTES', DEFAULT_MAX_UPLOAD_BYTES, 1),
});

export const DEFAULT_ORPHAN_GRACE_SECONDS = 60 * 60;
export const DEFAULT_ORPHAN_SWEEP_SECONDS = 5 * 60;

export interface OrphanSweepConfig {
  readonly graceMs: number;
  /** 0: no sweep runs on its own. */
  readonly intervalMs: number;
}

export const readOrphanSweepConfig = (env: NodeJS.ProcessEnv): OrphanSweepConfig => ({
  graceMs:
    wholeNumber(env, 'GANTRY_STAGING_ORPHAN_GRACE_SECONDS', DEFAULT_ORPHAN_GRACE_SECONDS, 0) *
    1_000,
  intervalMs:
    wholeNumber(env, 'GANTRY_STAGING_ORPHAN_SWEEP_SECONDS', DEFAULT_ORPHAN_SWEEP_SECONDS, 0) *
    1_000,
});
