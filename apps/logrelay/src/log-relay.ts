import { jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { type Pool } from 'pg';
import { type GantryError, type LogChunk, type SubjectCatalogue } from '@gantry/contracts';
import {
  DEFAULT_RETRY_POLICY,
  buildDeadLetter,
  defineConsumer,
  ensureConsumer,
  ensureStreams,
  publishDeadLetter,
  retryDelayMs,
  streamNames,
  toGantryError,
  type DeadLetterReason,
} from '@gantry/messaging';
import { insertLogChunks } from '@gantry/projections';
import { decodeLogChunk, jobsOf } from './log-chunk-decode';

/**
 * The relay's durable consumer on the LOGS stream. Many chunks are in flight at once (they are
 * committed in batches), so max_ack_pending is large; ack-wait covers a batch waiting behind the
 * one being committed. A chunk that cannot be stored after maxDeliver tries is dead-lettered, not
 * dropped.
 */
export const LOG_RELAY_CONSUMER = defineConsumer({
  durableName: 'logrelay',
  stream: 'logs',
  filterSubjects: (subjects) => [subjects.allLogs()],
  ackWaitMs: 30_000,
  maxDeliver: 1_000,
  maxAckPending: 8_192,
  description: 'log relay: LogChunks into log_chunks',
});

export type RelayLog = (event: string, fields?: Readonly<Record<string, unknown>>) => void;

export interface LogRelayOptions {
  readonly nc: NatsConnection;
  readonly subjects: SubjectCatalogue;
  readonly pool: Pick<Pool, 'query'>;
  readonly log?: RelayLog;
  /** Chunks per INSERT (default 1,000). */
  readonly maxBatch?: number;
  readonly clock?: () => Date;
}

/**
 * Persists LogChunks (issue 3) with group commit: while one batch is being written, the chunks
 * that arrive queue up and go together in the next INSERT, so an idle relay writes a chunk at
 * once and a busy one writes many per round trip. A message is acked only after the statement
 * holding it committed; the insert skips chunks already stored, so a redelivery changes nothing.
 * After each commit, followers of the jobs touched are woken on core NATS.
 */
export class LogRelay {
  private readonly log: RelayLog;
  private readonly maxBatch: number;
  private readonly clock: () => Date;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private readonly pending: JsMsg[] = [];
  private flushing: Promise<void> | undefined;
  private maxDeliver = Number.POSITIVE_INFINITY;
  private closing = false;

  constructor(private readonly options: LogRelayOptions) {
    this.log = options.log ?? (() => undefined);
    this.maxBatch = options.maxBatch ?? 1_000;
    this.clock = options.clock ?? (() => new Date());
  }

  async start(): Promise<void> {
    const { nc, subjects } = this.options;
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, subjects);
    await ensureConsumer(jsm, subjects, LOG_RELAY_CONSUMER);
    const consumer = await jetstream(nc).consumers.get(
      streamNames(subjects)[LOG_RELAY_CONSUMER.stream],
      LOG_RELAY_CONSUMER.durableName,
    );
    const { config } = await consumer.info();
    if (config.max_deliver && config.max_deliver > 0) this.maxDeliver = config.max_deliver;
    const messages = await consumer.consume({ max_messages: this.maxBatch });
    this.messages = messages;
    this.loop = (async () => {
      for await (const msg of messages) {
        if (this.closing) {
          msg.nak();
          continue;
        }
        this.pending.push(msg);
        this.flush();
        // Backpressure: pull no further ahead than two batches.
        if (this.pending.length >= 2 * this.maxBatch) await this.flushing;
      }
    })();
  }

  /** Stops pulling, commits and acks what is in hand, then returns. The connection is the caller's. */
  async close(): Promise<void> {
    this.closing = true;
    await this.messages?.close();
    await this.loop;
    await this.flushing;
    await this.options.nc.flush();
  }

  private flush(): void {
    this.flushing ??= (async () => {
      try {
        while (this.pending.length > 0) {
          const batch = this.pending.splice(0, this.maxBatch);
          // Unacked, the batch comes back after ack-wait; the relay carries on meanwhile.
          await this.commit(batch).catch((err: unknown) =>
            this.log('log_commit_failed', { chunks: batch.length, error: String(err) }),
          );
        }
      } finally {
        this.flushing = undefined;
      }
    })();
  }

  private async commit(batch: readonly JsMsg[]): Promise<void> {
    const { subjects } = this.options;
    const accepted: { msg: JsMsg; chunk: LogChunk }[] = [];
    for (const msg of batch) {
      const decoded = decodeLogChunk(subjects, msg.subject, msg.data);
      if (decoded.ok) accepted.push({ msg, chunk: decoded.chunk });
      else await this.deadLetter(msg, decoded.reason, decoded.error);
    }
    if (accepted.length === 0) return;
    try {
      await insertLogChunks(
        this.options.pool,
        accepted.map((a) => a.chunk),
      );
    } catch (err) {
      const error = toGantryError(err);
      this.log('log_insert_failed', { chunks: accepted.length, error: error.message });
      for (const { msg } of accepted) {
        if (msg.info.deliveryCount >= this.maxDeliver)
          await this.deadLetter(msg, 'max-deliver-exceeded', error);
        else msg.nak(retryDelayMs(DEFAULT_RETRY_POLICY, msg.info.deliveryCount));
      }
      return;
    }
    for (const { msg } of accepted) msg.ack();
    for (const { tenant, jobId } of jobsOf(accepted.map((a) => a.chunk)))
      this.options.nc.publish(subjects.logCommitted(tenant, jobId));
  }

  private async deadLetter(
    msg: JsMsg,
    reason: DeadLetterReason,
    error: GantryError,
  ): Promise<void> {
    const deadLetter = buildDeadLetter({
      consumer: LOG_RELAY_CONSUMER.durableName,
      reason,
      error,
      message: msg,
      now: this.clock(),
    });
    try {
      await publishDeadLetter(jetstream(this.options.nc), this.options.subjects, deadLetter);
    } catch (err) {
      // Never term what was not parked: it comes back, and the dead letter is deduplicated.
      this.log('dead_letter_failed', { subject: msg.subject, error: String(err) });
      msg.nak(retryDelayMs(DEFAULT_RETRY_POLICY, msg.info.deliveryCount));
      return;
    }
    this.log('dead_lettered', { subject: msg.subject, reason, error: error.message });
    msg.term(reason);
  }
}
