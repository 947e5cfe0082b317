import { ErrorCodes, GantryError, isGantryError } from '@gantry/contracts';
import { retryDelayMs, type RetryPolicy } from './retry-policy';

/**
 * What the transport does with a consumed message, decided apart from the I/O that carries it out
 * (CONVENTIONS.md #6: the edge maps an error to ack / nak / term).
 *
 *   handled, or nobody handles that type    -> ack
 *   retryable failure, deliveries left      -> nak with an exponential delay
 *   anything else (a poison message)        -> dead-letter, then term
 */
export type DeadLetterReason =
  'unparseable' | 'invalid-envelope' | 'unknown-type' | 'non-retryable' | 'max-deliver-exceeded';

export type MessageOutcome =
  | { readonly kind: 'ack' }
  | { readonly kind: 'nak'; readonly delayMs: number; readonly error: GantryError }
  | {
      readonly kind: 'dead-letter';
      readonly reason: DeadLetterReason;
      readonly error: GantryError;
    };

/** Why a message never reached a handler: it could not be read as a known, valid event. */
export type RejectionReason = Extract<
  DeadLetterReason,
  'unparseable' | 'invalid-envelope' | 'unknown-type'
>;

export type HandlingResult =
  | { readonly kind: 'handled' }
  | { readonly kind: 'no-handler' }
  | { readonly kind: 'rejected'; readonly reason: RejectionReason; readonly error: GantryError }
  | { readonly kind: 'failed'; readonly error: unknown };

export interface DeliveryState {
  /** 1-based: how many times the server has delivered this message, this time included. */
  readonly deliveryCount: number;
  readonly maxDeliver: number;
}

export const decideOutcome = (
  result: HandlingResult,
  delivery: DeliveryState,
  policy: RetryPolicy,
): MessageOutcome => {
  switch (result.kind) {
    case 'handled':
    case 'no-handler':
      return { kind: 'ack' };
    case 'rejected':
      return { kind: 'dead-letter', reason: result.reason, error: result.error };
    case 'failed': {
      const error = toGantryError(result.error);
      if (!error.retryable) return { kind: 'dead-letter', reason: 'non-retryable', error };
      // The server would not deliver it again: park it where a person can see it instead.
      if (delivery.deliveryCount >= delivery.maxDeliver) {
        return { kind: 'dead-letter', reason: 'max-deliver-exceeded', error };
      }
      return { kind: 'nak', delayMs: retryDelayMs(policy, delivery.deliveryCount), error };
    }
    default:
      return assertNever(result);
  }
};

const NEST_UNKNOWN_ERROR_HINT =
  'the handler threw something Nest replaced with a generic error; register GantryRpcExceptionFilter to keep the original';

/**
 * Brings anything a handler threw into the one error model. Unknown errors are assumed transient
 * (as `isRetryable` in contracts does) and their messages are kept out of replies by the callers.
 */
export const toGantryError = (err: unknown): GantryError => {
  if (isGantryError(err)) return err;
  if (err instanceof Error) {
    return new GantryError(ErrorCodes.INTERNAL, err.message, { retryable: true, cause: err });
  }
  // Nest's default RPC exception filter turns every non-RpcException into this plain object.
  if (isNestGenericError(err)) {
    return new GantryError(ErrorCodes.INTERNAL, err.message, {
      retryable: true,
      details: { hint: NEST_UNKNOWN_ERROR_HINT },
    });
  }
  return new GantryError(ErrorCodes.INTERNAL, 'handler failed with a non-error value', {
    retryable: true,
    details: { thrown: safeDescribe(err) },
  });
};

export const isNestGenericError = (err: unknown): err is { status: 'error'; message: string } =>
  typeof err === 'object' &&
  err !== null &&
  !(err instanceof Error) &&
  (err as { status?: unknown }).status === 'error' &&
  typeof (err as { message?: unknown }).message === 'string';

const safeDescribe = (value: unknown): string => {
  try {
    return JSON.stringify(value)?.slice(0, 500) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
};

const assertNever = (value: never): never => {
  throw new Error(`unexpected handling result ${JSON.stringify(value)}`);
};
