import {
  AckPolicy,
  DeliverPolicy,
  type Consumer,
  type ConsumerMessages,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import {
  ErrorCodes,
  eventRegistry,
  isGantryError,
  type EventEnvelope,
  type MessageRegistry,
  type SubjectCatalogue,
} from '@gantry/contracts';
import { streamNames } from '@gantry/messaging';
import { type PostgresProjectionSink } from './postgres-projection.sink';

export interface ProjectionRunnerOptions {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly subjects: SubjectCatalogue;
  readonly sink: PostgresProjectionSink;
  readonly registry?: MessageRegistry;
  /** Durable consumer name; one per projection, so every replica shares its position. */
  readonly consumerName?: string;
  readonly batchSize?: number;
  /** Delay before a batch that failed to apply is redelivered. */
  readonly retryDelayMs?: number;
  readonly onError?: (
    err: unknown,
    context: { readonly stage: 'fetch' | 'parse' | 'apply' },
  ) => void;
}

const NANOS_PER_MS = 1_000_000;

/**
 * The live path of a projection: pulls batches of events from the JetStream event stream, hands
 * each batch to the sink (one transaction), and acks only after that commits. A crash between
 * commit and ack means a redelivery, which the sink recognises by stream version and skips; a
 * batch that fails is nak'd whole and comes back later.
 */
export class ProjectionRunner {
  private readonly registry: MessageRegistry;
  private readonly consumerName: string;
  private readonly batchSize: number;
  private readonly retryDelayMs: number;
  private loop: Promise<void> | undefined;
  private messages: ConsumerMessages | undefined;
  private stopping = false;

  constructor(private readonly options: ProjectionRunnerOptions) {
    this.registry = options.registry ?? eventRegistry;
    this.consumerName = options.consumerName ?? `projection_${options.sink.name}`;
    this.batchSize = options.batchSize ?? 100;
    this.retryDelayMs = options.retryDelayMs ?? 1_000;
  }

  async start(): Promise<void> {
    if (this.loop) return;
    await this.ensureConsumer();
    this.stopping = false;
    this.loop = this.run();
  }

  /** Finishes the batch in hand, then returns. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.messages?.stop();
    await this.loop;
    this.loop = undefined;
  }

  private get streamName(): string {
    return streamNames(this.options.subjects).events;
  }

  /**
   * Creates the durable consumer if it is missing. A new one starts after the last bus sequence
   * the projection recorded, so losing the consumer does not mean replaying the whole stream;
   * with no record (a fresh or just-rebuilt projection) it starts at the beginning, and the sink
   * skips what the rebuild already applied.
   */
  private async ensureConsumer(): Promise<void> {
    const { jsm, sink } = this.options;
    try {
      await jsm.consumers.info(this.streamName, this.consumerName);
      return;
    } catch (err) {
      if (!(err instanceof Error && /consumer not found/i.test(err.message))) throw err;
    }
    const checkpoint = await sink.readCheckpoint();
    const start: Partial<ConsumerConfig> =
      checkpoint?.busSequence != null
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: checkpoint.busSequence + 1 }
        : { deliver_policy: DeliverPolicy.All };
    await jsm.consumers.add(this.streamName, {
      durable_name: this.consumerName,
      ack_policy: AckPolicy.Explicit,
      ...start,
      filter_subject: this.filterSubject(),
      ack_wait: 30_000 * NANOS_PER_MS,
      max_ack_pending: Math.max(1_000, this.batchSize * 2),
    });
  }

  /**
   * One aggregate narrows the consumer to its subjects. Several would need `filter_subjects`,
   * which nats-server only has from 2.10; until then the consumer reads every event and the sink
   * skips the streams the projection does not read.
   */
  private filterSubject(): string {
    const { aggregates } = this.options.sink.definition;
    const [only] = aggregates;
    return aggregates.length === 1 && only !== undefined
      ? this.options.subjects.eventsOfAggregate(only)
      : this.options.subjects.allEvents();
  }

  /**
   * Consumes continuously and applies what has arrived as one batch: a lone event is applied as
   * soon as it lands (a read-your-writes caller is waiting on it), and under load everything that
   * queued up while the previous batch committed goes in the next transaction. A fetch would
   * instead hold a partial batch until its expiry, a full second of staleness when traffic is light.
   */
  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        const consumer: Consumer = await this.options.js.consumers.get(
          this.streamName,
          this.consumerName,
        );
        const messages = await consumer.consume({ max_messages: this.batchSize * 2 });
        this.messages = messages;
        if (this.stopping) messages.stop();
        // The iterator fills `arrived` as messages land; each turn of the loop applies all of it
        // (up to a batch). The server's max_ack_pending bounds how much can queue unacked.
        const arrived: JsMsg[] = [];
        let ended = false;
        let wake: (() => void) | undefined;
        const pump = (async () => {
          try {
            for await (const message of messages) {
              arrived.push(message);
              wake?.();
            }
          } finally {
            ended = true;
            wake?.();
          }
        })();
        while (!this.stopping) {
          if (arrived.length === 0) {
            if (ended) break;
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
            continue;
          }
          await this.handle(arrived.splice(0, this.batchSize));
        }
        messages.stop();
        await pump;
      } catch (err) {
        this.report(err, 'fetch');
        await sleep(this.retryDelayMs);
      } finally {
        this.messages?.stop();
        this.messages = undefined;
      }
    }
  }

  private async handle(batch: readonly JsMsg[]): Promise<void> {
    const events: EventEnvelope[] = [];
    const parsed: JsMsg[] = [];
    for (const message of batch) {
      try {
        events.push(this.registry.parseEvent(message.json()));
        parsed.push(message);
      } catch (err) {
        this.report(err, 'parse');
        if (isMalformed(err)) {
          // It will never parse, however often it comes back. The store still has the event, so a
          // rebuild or a gap fill can recover it once the cause is fixed.
          message.term(err instanceof Error ? err.message.slice(0, 200) : 'malformed event');
        } else {
          // An unknown type or a newer schema version: a newer deployment may understand it.
          message.nak(this.retryDelayMs);
        }
      }
    }
    if (parsed.length === 0) return;
    try {
      await this.options.sink.apply(events, { busSequence: Math.max(...parsed.map((m) => m.seq)) });
    } catch (err) {
      // Always redeliver: terminating a message a projection could not apply would leave a hole
      // in the read model. A projector bug keeps failing here, visibly, until it is fixed.
      this.report(err, 'apply');
      for (const message of parsed) message.nak(this.retryDelayMs);
      return;
    }
    for (const message of parsed) message.ack();
  }

  private report(err: unknown, stage: 'fetch' | 'parse' | 'apply'): void {
    this.options.onError?.(err, { stage });
  }
}

const isMalformed = (err: unknown): boolean =>
  err instanceof SyntaxError || (isGantryError(err) && err.code === ErrorCodes.VALIDATION_FAILED);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
