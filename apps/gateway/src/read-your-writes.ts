const VISIBILITY_TIMEOUT_MS = 5_000;
const POLL_MS = 10;

/**
 * Reads come from projections that trail the store by the publisher and the projector (tens of
 * milliseconds). A caller who was just told "created" must be able to read what it created at
 * once: a 201 followed by a 404 reads as a lost write. So a creating route answers only once its
 * write is visible; past the timeout it answers anyway, since the write is durable and will show
 * moments later.
 */
export const untilVisible = async (isVisible: () => Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + VISIBILITY_TIMEOUT_MS;
  while (!(await isVisible())) {
    if (Date.now() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
};
