import { ErrorCodes, GantryError } from '@gantry/contracts';

/** The bootstrap cannot provide a server; the message says what to do about it. */
export const serversUnavailable = (message: string): GantryError =>
  new GantryError(ErrorCodes.UNAVAILABLE, message, { retryable: false });
