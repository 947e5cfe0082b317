import { type Checkpoint, type PostgresEventStore } from '@gantry/event-store';
import { type PostgresProjectionSink } from './postgres-projection.sink';

export type AllEventsReader = Pick<PostgresEventStore, 'readAll'>;

export interface RebuildOptions {
  /** Events per transaction. */
  readonly batchSize?: number;
}

export interface RebuildResult {
  readonly eventsRead: number;
  readonly eventsApplied: number;
  /** Where the replay stopped: the store's read horizon when it began its last read. */
  readonly checkpoint: Checkpoint | null;
}

/**
 * Empties a projection and replays the whole store into it, in the store's commit order
 * (invariant 6). Each page is one sink transaction that also moves the store checkpoint, so an
 * interrupted rebuild can be rerun from scratch, or resumed with `catchUpProjection`.
 *
 * The live runner may keep going meanwhile: events it applies ahead of the replay fill their
 * streams' gaps from the store, and the replay then skips them as duplicates, so the two paths
 * meet without either missing or doubling an event. Readers see the projection fill up while it
 * runs; a shadow-table swap would hide that, and is not needed yet.
 */
export const rebuildProjection = async (
  store: AllEventsReader,
  sink: PostgresProjectionSink,
  options: RebuildOptions = {},
): Promise<RebuildResult> => {
  await sink.reset();
  return catchUpProjection(store, sink, options);
};

/**
 * Replays what the store holds after the projection's store checkpoint: the rest of a rebuild,
 * or what the bus lost at the tail of a stream, where no later event reveals the gap.
 */
export const catchUpProjection = async (
  store: AllEventsReader,
  sink: PostgresProjectionSink,
  options: RebuildOptions = {},
): Promise<RebuildResult> => {
  const limit = options.batchSize ?? 500;
  let after = (await sink.readCheckpoint())?.store ?? null;
  let eventsRead = 0;
  let eventsApplied = 0;
  for (;;) {
    const page = await store.readAll({ after, limit });
    if (page.events.length === 0) break;
    const result = await sink.apply(page.events, page.checkpoint ? { store: page.checkpoint } : {});
    eventsRead += page.events.length;
    eventsApplied += result.applied;
    after = page.checkpoint;
  }
  return { eventsRead, eventsApplied, checkpoint: after };
};
