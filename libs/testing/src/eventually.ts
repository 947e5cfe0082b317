/**
 * Polls `probe` until it gives something other than `undefined` or `false`, and returns that;
 * throws naming `what` once `timeoutMs` has passed. For tests that wait on another process, a
 * projection or the bus: they assert on what arrived, never on how long it took.
 */
export const eventually = async <T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 30_000,
  context?: () => string,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${context ? `\n${context()}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};
