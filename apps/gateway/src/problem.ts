import { ErrorCodes, isGantryError, type ErrorCode } from '@gantry/contracts';

/** The gateway's own refusals that have no domain code: who is calling, and what HTTP itself refuses. */
export const EdgeCodes = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  ROUTE_NOT_FOUND: 'ROUTE_NOT_FOUND',
} as const;
export type EdgeCode = (typeof EdgeCodes)[keyof typeof EdgeCodes];

/**
 * One HTTP status per error code (CONVENTIONS.md #6: the domain throws a code, the edge maps it).
 * A `Record` over every code, so a code added to the contracts fails the typecheck until it is
 * mapped here. QUOTA_EXCEEDED is 422: the request is well formed and the caller is allowed to
 * submit, but this job does not fit the tenant's quota now (403 would say the caller may never).
 */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode | EdgeCode, number>> = {
  [ErrorCodes.VALIDATION_FAILED]: 400,
  [ErrorCodes.INVALID_SUBJECT_TOKEN]: 400,
  [ErrorCodes.NOT_FOUND]: 404,
  [ErrorCodes.ILLEGAL_TRANSITION]: 409,
  [ErrorCodes.TENANT_EXISTS]: 409,
  [ErrorCodes.STREAM_VERSION_CONFLICT]: 409,
  [ErrorCodes.LEASE_STALE_EPOCH]: 409,
  [ErrorCodes.OUTPUT_DIGEST_MISMATCH]: 409,
  [ErrorCodes.BACKOFF_NOT_ELAPSED]: 409,
  [ErrorCodes.FORBIDDEN]: 403,
  [ErrorCodes.QUOTA_EXCEEDED]: 422,
  // Like a quota refusal, and lifted by an admin (or a new month), not by the caller waiting.
  [ErrorCodes.TENANT_PAUSED]: 422,
  [ErrorCodes.TIMEOUT]: 503,
  [ErrorCodes.UNAVAILABLE]: 503,
  [ErrorCodes.UNKNOWN_EVENT_TYPE]: 500,
  [ErrorCodes.UNSUPPORTED_SCHEMA_VERSION]: 500,
  [ErrorCodes.INTERNAL]: 500,
  [EdgeCodes.UNAUTHENTICATED]: 401,
  [EdgeCodes.PAYLOAD_TOO_LARGE]: 413,
  [EdgeCodes.UNSUPPORTED_MEDIA_TYPE]: 415,
  [EdgeCodes.ROUTE_NOT_FOUND]: 404,
};

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** RFC 9457 problem details, with our code, retryable flag and the error's safe details beside them. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
  readonly retryable: boolean;
  readonly [detail: string]: unknown;
}

/** A refusal made at the edge (auth, HTTP limits): a code from EdgeCodes or the contracts. */
export class EdgeError extends Error {
  constructor(
    readonly code: ErrorCode | EdgeCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'EdgeError';
  }
}

export const unauthenticated = (): EdgeError =>
  new EdgeError(EdgeCodes.UNAUTHENTICATED, 'a valid bearer credential is required');

const RESERVED = new Set(['type', 'title', 'status', 'detail', 'code', 'retryable', 'instance']);

export const problemType = (code: string): string =>
  `urn:gantry:problem:${code.toLowerCase().replace(/_/g, '-')}`;

export const problemOf = (
  code: string,
  detail: string,
  options: { retryable?: boolean; details?: Readonly<Record<string, unknown>> } = {},
): Problem => {
  const status = (STATUS_BY_CODE as Readonly<Record<string, number>>)[code] ?? 500;
  const extra = Object.fromEntries(
    Object.entries(options.details ?? {}).filter(([key]) => !RESERVED.has(key)),
  );
  return {
    ...extra,
    type: problemType(code),
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    retryable: options.retryable ?? false,
  };
};

/** Anything a handler threw, as a problem. Unknown errors say nothing about their insides. */
export const toProblem = (err: unknown): Problem => {
  if (isGantryError(err)) {
    return problemOf(err.code, err.message, { retryable: err.retryable, details: err.details });
  }
  if (err instanceof EdgeError) return problemOf(err.code, err.message, { details: err.details });
  const http = httpStatusOf(err);
  if (http !== undefined) return fromHttpStatus(http, err);
  return problemOf(ErrorCodes.INTERNAL, 'internal error', { retryable: true });
};

/** Fastify's own errors (body too large, bad JSON, wrong content type) and Nest's HttpExceptions. */
const httpStatusOf = (err: unknown): number | undefined => {
  if (typeof err !== 'object' || err === null) return undefined;
  const candidate = err as { statusCode?: unknown; getStatus?: unknown };
  if (typeof candidate.getStatus === 'function') {
    const status = (candidate.getStatus as () => unknown).call(err);
    return typeof status === 'number' ? status : undefined;
  }
  return typeof candidate.statusCode === 'number' ? candidate.statusCode : undefined;
};

const fromHttpStatus = (status: number, err: unknown): Problem => {
  const message = err instanceof Error ? err.message : 'request refused';
  switch (status) {
    case 413:
      return problemOf(EdgeCodes.PAYLOAD_TOO_LARGE, 'the request body is too large');
    case 415:
      return problemOf(EdgeCodes.UNSUPPORTED_MEDIA_TYPE, message);
    case 404:
      return problemOf(EdgeCodes.ROUTE_NOT_FOUND, 'no such route');
    default:
      return status >= 400 && status < 500
        ? problemOf(ErrorCodes.VALIDATION_FAILED, message)
        : problemOf(ErrorCodes.INTERNAL, 'internal error', { retryable: true });
  }
};
