import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { type SubjectCatalogue } from '@gantry/contracts';

/**
 * Every JetStream stream is declared here and nowhere else (the "declared in one
 * place"). Streams are file-backed: Postgres is the truth, but what NATS acknowledged must
 * survive a NATS restart too (ARCHITECTURE.md invariant 8).
 */
export const DUPLICATE_WINDOW_NS = 2 * 60 * 1_000_000_000; // JetStream dedupe window for Nats-Msg-Id
const DAY_NS = 24 * 60 * 60 * 1_000_000_000;

export interface StreamNames {
  readonly events: string;
  readonly deadLetters: string;
}

export const streamNames = (subjects: SubjectCatalogue): StreamNames => {
  const prefix = subjects.namespace.toUpperCase().replace(/-/g, '_');
  return { events: `${prefix}_EVENTS`, deadLetters: `${prefix}_DLQ` };
};

type NamedStreamConfig = Partial<StreamConfig> & { name: string };

export const streamConfigs = (subjects: SubjectCatalogue): NamedStreamConfig[] => {
  const names = streamNames(subjects);
  return [
    {
      name: names.events,
      subjects: [subjects.allEvents()],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      duplicate_window: DUPLICATE_WINDOW_NS,
      // The store keeps everything forever; the bus only needs enough for consumers to catch up.
      max_age: 7 * DAY_NS,
      num_replicas: 1,
    },
    {
      name: names.deadLetters,
      subjects: [subjects.allDeadLetters()],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      duplicate_window: DUPLICATE_WINDOW_NS,
      max_age: 30 * DAY_NS,
      num_replicas: 1,
    },
  ];
};

/** Creates the streams, or brings their config up to date; safe to run from every process at start. */
export const ensureStreams = async (jsm: JetStreamManager, subjects: SubjectCatalogue): Promise<void> => {
  for (const config of streamConfigs(subjects)) {
    try {
      await jsm.streams.info(config.name);
      await jsm.streams.update(config.name, config);
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
      await jsm.streams.add(config);
    }
  }
};

/** Removes this namespace's streams: for tests that made their own. */
export const deleteStreams = async (jsm: JetStreamManager, subjects: SubjectCatalogue): Promise<void> => {
  for (const config of streamConfigs(subjects)) {
    try {
      await jsm.streams.delete(config.name);
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
    }
  }
};

const isStreamNotFound = (err: unknown): boolean =>
  err instanceof Error && /stream not found/i.test(err.message);
