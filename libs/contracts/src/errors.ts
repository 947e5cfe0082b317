/**
 * The one error model (CONVENTIONS.md #6): a stable code, whether retrying can help, and a detail
 * that is safe to show to the caller. The domain throws these; the edges map `code` to an HTTP or
 * gRPC status, or to ack / nak / term on a message.
 */
export const ErrorCodes = {
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  STREAM_VERSION_CONFLICT: 'STREAM_VERSION_CONFLICT',
  UNKNOWN_EVENT_TYPE: 'UNKNOWN_EVENT_TYPE',
  UNSUPPORTED_SCHEMA_VERSION: 'UNSUPPORTED_SCHEMA_VERSION',
  INVALID_SUBJECT_TOKEN: 'INVALID_SUBJECT_TOKEN',
  ILLEGAL_TRANSITION: 'ILLEGAL_TRANSITION',
  NOT_FOUND: 'NOT_FOUND',
  /** A tenant with that id already exists (admission: create-tenant). */
  TENANT_EXISTS: 'TENANT_EXISTS',
  /** The caller is known but not allowed to do this (e.g. an admin command from a non-admin). */
  FORBIDDEN: 'FORBIDDEN',
  QUOTA_EXCEEDED: 'QUOTA_EXCEEDED',
  /** The tenant is paused (B3 kill switch): at its budget, or by an admin. Nothing new runs. */
  TENANT_PAUSED: 'TENANT_PAUSED',
  LEASE_STALE_EPOCH: 'LEASE_STALE_EPOCH',
  /** A reported output or checkpoint is not what the artifact store holds under its ref (D4). */
  OUTPUT_DIGEST_MISMATCH: 'OUTPUT_DIGEST_MISMATCH',
  /** A retry's backoff has not elapsed yet: worth trying again after `details.notBefore`. */
  BACKOFF_NOT_ELAPSED: 'BACKOFF_NOT_ELAPSED',
  TIMEOUT: 'TIMEOUT',
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface GantryErrorOptions {
  readonly retryable?: boolean;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
}

export class GantryError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: GantryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GantryError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }

  toJSON(): {
    code: ErrorCode;
    message: string;
    retryable: boolean;
    details: Record<string, unknown>;
  } {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      details: { ...this.details },
    };
  }
}

export const isGantryError = (err: unknown): err is GantryError => err instanceof GantryError;

/** Whether a failure is worth retrying: our own errors say so; anything unknown is assumed transient. */
export const isRetryable = (err: unknown): boolean => (isGantryError(err) ? err.retryable : true);
