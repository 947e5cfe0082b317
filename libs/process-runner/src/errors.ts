import { ErrorCodes, GantryError } from '@gantry/contracts';

/**
 * Why the runner refused to start an attempt. These are all the agent's (or the lease's) fault, not the
 * job's, so none is retryable as-is: a reused work dir means an attempt number was handed out twice.
 */
export type ProcessRunnerRefusal =
  | 'invalid-options'
  | 'work-dir-exists'
  | 'outside-work-root'
  | 'work-root-not-searchable'
  | 'unknown-user';

export class ProcessRunnerError extends GantryError {
  constructor(
    readonly refusal: ProcessRunnerRefusal,
    message: string,
    details: Readonly<Record<string, unknown>> = {},
  ) {
    super(ErrorCodes.VALIDATION_FAILED, message, {
      retryable: false,
      details: { refusal, ...details },
    });
    this.name = 'ProcessRunnerError';
  }
}

export const isProcessRunnerError = (err: unknown): err is ProcessRunnerError =>
  err instanceof ProcessRunnerError;
