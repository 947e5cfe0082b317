import { type PostgresEventStore, type ReadAllResult } from './event-store';

/**
 * readAll stops below the oldest transaction still running anywhere on the server (xids are
 * cluster-wide; ADR 0002), so right after an append another database's open transaction can still
 * hide our events from it. Once visible they stay visible: whoever needs to read its own writes in
 * the global order (tests, tools) waits for them first. Live consumers never need this: the
 * publisher delivers each event as soon as it becomes visible.
 */
export const waitUntilVisible = async (
  store: Pick<PostgresEventStore, 'readAll'>,
  count: number,
  timeoutMs = 20_000,
): Promise<ReadAllResult> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const page = await store.readAll({ after: null, limit: 10_000 });
    if (page.events.length >= count) return page;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${count} events to be visible to readAll (saw ${page.events.length})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};
