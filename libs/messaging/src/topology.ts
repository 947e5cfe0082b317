import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerInfo,
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
  readonly logs: string;
}

export const streamNames = (subjects: SubjectCatalogue): StreamNames => {
  const prefix = subjects.namespace.toUpperCase().replace(/-/g, '_');
  return { events: `${prefix}_EVENTS`, deadLetters: `${prefix}_DLQ`, logs: `${prefix}_LOGS` };
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
    {
      // Agents publish log chunks here; the log relay persists them per rank. File-backed so a
      // relay restart loses nothing the agent was told was stored.
      name: names.logs,
      subjects: [subjects.allLogs()],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      duplicate_window: DUPLICATE_WINDOW_NS,
      max_age: 7 * DAY_NS,
      num_replicas: 1,
    },
  ];
};

/** Creates the streams, or brings their config up to date; safe to run from every process at start. */
export const ensureStreams = async (
  jsm: JetStreamManager,
  subjects: SubjectCatalogue,
): Promise<void> => {
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

/**
 * Object store buckets, declared here beside the streams: staging keeps blob bytes in `files`.
 * JetStream backs a bucket named B with a stream named OBJ_B.
 */
export const objectBucketNames = (subjects: SubjectCatalogue): { readonly files: string } => ({
  files: `${subjects.namespace}_FILES`,
});

/** Removes this namespace's streams and buckets: for tests that made their own. */
export const deleteStreams = async (
  jsm: JetStreamManager,
  subjects: SubjectCatalogue,
): Promise<void> => {
  const buckets = Object.values(objectBucketNames(subjects)).map((bucket) => `OBJ_${bucket}`);
  for (const name of [...streamConfigs(subjects).map((config) => config.name), ...buckets]) {
    try {
      await jsm.streams.delete(name);
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
    }
  }
};

const isStreamNotFound = (err: unknown): boolean =>
  err instanceof Error && /stream not found/i.test(err.message);

/**
 * A durable pull consumer, declared next to the streams it reads. Filter subjects are a function of
 * the subject catalogue rather than strings, so one declaration serves every namespace (production
 * `gantry`, a test's own) and nothing outside the catalogue builds a subject.
 */
export interface ConsumerDeclaration {
  /** Also names the consumer's dead-letter subject, so it must be a valid subject token. */
  readonly durableName: string;
  readonly stream: keyof StreamNames;
  readonly filterSubjects: (subjects: SubjectCatalogue) => readonly string[];
  /** How long the server waits for an ack before redelivering; long handlers extend it with working(). */
  readonly ackWaitMs: number;
  /** Deliveries before the server gives up; the transport dead-letters a message on its last one. */
  readonly maxDeliver: number;
  /** Server-side redelivery schedule for messages nobody acked (a crashed handler); ms per attempt. */
  readonly backoff?: readonly number[];
  /** Unacked messages in flight; 1 makes the consumer strictly sequential across its instances. */
  readonly maxAckPending?: number;
  readonly description?: string;
}

const NS_PER_MS = 1_000_000;
const DURABLE_NAME = /^[A-Za-z0-9_-]{1,128}$/;

/** Checks a declaration once, where it is written, so a bad one fails at start-up and not on the first poison message. */
export const defineConsumer = (declaration: ConsumerDeclaration): ConsumerDeclaration => {
  const problems: string[] = [];
  if (!DURABLE_NAME.test(declaration.durableName))
    problems.push('durableName must be 1-128 chars of A-Z, a-z, 0-9, _ and -');
  if (!Number.isInteger(declaration.maxDeliver) || declaration.maxDeliver < 1)
    problems.push('maxDeliver must be a positive integer');
  if (!(declaration.ackWaitMs > 0)) problems.push('ackWaitMs must be positive');
  const backoff = declaration.backoff ?? [];
  if (backoff.some((ms) => !(ms > 0))) problems.push('backoff entries must be positive');
  // The server refuses a backoff schedule at least as long as max_deliver.
  if (backoff.length > 0 && declaration.maxDeliver <= backoff.length)
    problems.push('maxDeliver must exceed the number of backoff steps');
  if (problems.length > 0)
    throw new Error(`consumer ${declaration.durableName}: ${problems.join('; ')}`);
  return declaration;
};

/** The JetStream config for a declaration: explicit acks, every message from the start of the stream. */
export const consumerConfig = (
  subjects: SubjectCatalogue,
  declaration: ConsumerDeclaration,
): Partial<ConsumerConfig> => {
  const filters = [...declaration.filterSubjects(subjects)];
  return {
    durable_name: declaration.durableName,
    ...(declaration.description ? { description: declaration.description } : {}),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: declaration.ackWaitMs * NS_PER_MS,
    max_deliver: declaration.maxDeliver,
    ...(declaration.backoff?.length
      ? { backoff: declaration.backoff.map((ms) => ms * NS_PER_MS) }
      : {}),
    ...(declaration.maxAckPending ? { max_ack_pending: declaration.maxAckPending } : {}),
    // A single filter goes in filter_subject: filter_subjects needs nats-server 2.10.
    ...(filters.length === 1 ? { filter_subject: filters[0] } : { filter_subjects: filters }),
  };
};

/** Creates the durable consumer, or brings its mutable settings up to date; safe from every instance at start. */
export const ensureConsumer = async (
  jsm: JetStreamManager,
  subjects: SubjectCatalogue,
  declaration: ConsumerDeclaration,
): Promise<ConsumerInfo> => {
  const stream = streamNames(subjects)[declaration.stream];
  const config = consumerConfig(subjects, declaration);
  try {
    await jsm.consumers.info(stream, declaration.durableName);
  } catch (err) {
    if (!isConsumerNotFound(err)) throw err;
    return jsm.consumers.add(stream, config);
  }
  const { durable_name: _durable, ...mutable } = config;
  return jsm.consumers.update(stream, declaration.durableName, mutable);
};

const isConsumerNotFound = (err: unknown): boolean =>
  err instanceof Error && /consumer not found/i.test(err.message);
