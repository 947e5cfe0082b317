import { randomBytes } from 'node:crypto';
import { type EventEnvelope, type SubjectCatalogue } from '@gantry/contracts';
import { publishEvent } from '@gantry/messaging';
import { type JetStreamClient } from '@nats-io/jetstream';
import { Client } from 'pg';
import { type Checkpoint } from '../checkpoint';
import { type PostgresEventStore } from '../event-store';
import { EVENTS_CHANNEL } from '../schema/migrations';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff';
import { laneByStream } from './publish-plan';
import { Wakeup } from './wakeup';

export interface EventPublisherOptions {
  /** The publisher opens its own session: it holds the leader lock, LISTENs, reads and checkpoints. */
  readonly databaseUrl: string;
  readonly store: PostgresEventStore;
  readonly js: JetStreamClient;
  readonly subjects: SubjectCatalogue;
  /** Names the checkpoint and the leader lock; replicas with the same name share one leader. */
  readonly name?: string;
  readonly batchSize?: number;
  /** Re-read at least this often when idle, for notifications missed or not sent. */
  readonly pollIntervalMs?: number;
  /**
   * While events are flowing (a notification or a non-empty batch in the last second), re-read
   * this often instead: a transaction that committed without notifying (see gantry_notify_events)
   * then waits this long at most, not a whole poll interval.
   */
  readonly busyPollIntervalMs?: number;
  /** How often a replica that is not the leader tries to become it. */
  readonly leadershipRetryMs?: number;
  readonly backoff?: BackoffPolicy;
  readonly log?: (event: string, fields?: Readonly<Record<string, unknown>>) => void;
  readonly random?: () => number;
}

export interface PublisherStatus {
  readonly instanceId: string;
  readonly isLeader: boolean;
  readonly checkpoint: Checkpoint | null;
  /** Events this instance published and checkpointed. */
  readonly published: number;
  /** Reads of the store this instance made as leader, empty ones included. */
  readonly reads: number;
  /** Failures in a row; 0 after any batch goes through. */
  readonly failures: number;
}

/** How long after the last sign of traffic the publisher keeps polling at the busy interval. */
const BUSY_WINDOW_MS = 1_000;

/** Advisory lock class for publisher leadership; the object id is hashtext(name). */
const LEADER_LOCK_CLASS = 0x6770_7562; // 'gpub'

/**
 * Puts every committed event on JetStream, at least once, in stream order, never skipping
 * (ARCHITECTURE.md invariant 3). One replica leads, holding a session-level advisory lock on a
 * dedicated connection; the others retry. Everything the leader writes goes through that same
 * session, so a leader whose session died (and so lost the lock) cannot move the checkpoint.
 *
 * Each cycle: read a batch after the checkpoint (store order), publish it with msgID = event id,
 * await every ack, then move the checkpoint. A crash between publish and checkpoint republishes
 * the batch; JetStream's dedupe window and idempotent consumers absorb that.
 */
export class EventPublisher {
  readonly instanceId = randomBytes(4).toString('hex');
  private readonly name: string;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly busyPollIntervalMs: number;
  private lastActivity = Number.NEGATIVE_INFINITY;
  private readonly leadershipRetryMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly log: NonNullable<EventPublisherOptions['log']>;
  private readonly random: () => number;
  private readonly wakeup = new Wakeup();

  private session: Client | null = null;
  private leader = false;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private checkpoint: Checkpoint | null = null;
  private published = 0;
  private reads = 0;
  private failures = 0;

  constructor(private readonly options: EventPublisherOptions) {
    this.name = options.name ?? 'default';
    this.batchSize = options.batchSize ?? 500;
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.busyPollIntervalMs = Math.min(this.pollIntervalMs, options.busyPollIntervalMs ?? 20);
    this.leadershipRetryMs = options.leadershipRetryMs ?? 1_000;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.log = options.log ?? (() => undefined);
    this.random = options.random ?? Math.random;
  }

  status(): PublisherStatus {
    return {
      instanceId: this.instanceId,
      isLeader: this.leader,
      checkpoint: this.checkpoint,
      published: this.published,
      reads: this.reads,
      failures: this.failures,
    };
  }

  /** The application_name of this instance's session, to find it in pg_stat_activity. */
  get applicationName(): string {
    return `gantry-event-publisher:${this.name}:${this.instanceId}`;
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.run();
  }

  /** Finishes the batch in flight, checkpoints it, then releases leadership and the session. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeup.wake();
    await this.loop;
    this.loop = null;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (!this.leader) {
        if (!(await this.tryToLead())) await this.wakeup.wait(this.leadershipRetryMs);
        continue;
      }
      try {
        const count = await this.publishNextBatch();
        this.failures = 0;
        // Read again straight after a non-empty batch: transactions that committed meanwhile
        // may not have notified (see gantry_notify_events). Sleep only once the store is drained.
        if (count > 0) this.lastActivity = performance.now();
        else await this.wakeup.wait(this.idleWait());
      } catch (err) {
        if (!this.leader) continue; // the session died; its handler already said so
        this.failures += 1;
        const delay = backoffDelay(this.failures, this.random(), this.backoff);
        this.log('publish_failed', {
          error: describe(err),
          failures: this.failures,
          retryInMs: delay,
        });
        await this.wakeup.wait(delay);
      }
    }
    await this.closeSession();
    this.log('stopped', { published: this.published });
  }

  private idleWait(): number {
    return performance.now() - this.lastActivity < BUSY_WINDOW_MS
      ? this.busyPollIntervalMs
      : this.pollIntervalMs;
  }

  private async tryToLead(): Promise<boolean> {
    try {
      const session = await this.openSession();
      const { rows } = await session.query<{ acquired: boolean }>(
        'SELECT pg_try_advisory_lock($1, hashtext($2)) AS acquired',
        [LEADER_LOCK_CLASS, this.name],
      );
      if (!rows[0]?.acquired) return false;
      await session.query(`LISTEN ${EVENTS_CHANNEL}`);
      await session.query(
        'INSERT INTO publisher_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING',
        [this.name],
      );
      const saved = await session.query<{ transaction_id: string | null; position: string | null }>(
        'SELECT transaction_id::text AS transaction_id, position::text AS position FROM publisher_checkpoints WHERE name = $1',
        [this.name],
      );
      const row = saved.rows[0];
      this.checkpoint =
        row?.transaction_id && row.position
          ? { transactionId: row.transaction_id, position: row.position }
          : null;
      this.leader = this.session === session;
      if (this.leader)
        this.log('leader', { instanceId: this.instanceId, checkpoint: this.checkpoint });
      return this.leader;
    } catch (err) {
      this.log('leadership_attempt_failed', { error: describe(err) });
      await this.closeSession();
      return false;
    }
  }

  private async publishNextBatch(): Promise<number> {
    const session = this.session;
    if (!session) throw new Error('no session');
    const batch = await this.options.store.readAll(
      { after: this.checkpoint, limit: this.batchSize },
      { tx: session },
    );
    this.reads += 1;
    if (batch.events.length === 0) return 0;

    const abort = { failed: false };
    const results = await Promise.allSettled(
      laneByStream(batch.events).map((lane) => this.publishLane(lane, abort)),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;

    const next = batch.checkpoint!;
    await session.query(
      `UPDATE publisher_checkpoints
          SET transaction_id = $2::xid8, position = $3::bigint, updated_at = now()
        WHERE name = $1`,
      [this.name, next.transactionId, next.position],
    );
    this.checkpoint = next;
    this.published += batch.events.length;
    return batch.events.length;
  }

  private async publishLane(
    lane: readonly EventEnvelope[],
    abort: { failed: boolean },
  ): Promise<void> {
    for (const event of lane) {
      if (abort.failed) return;
      try {
        await publishEvent(this.options.js, this.options.subjects, event);
      } catch (err) {
        abort.failed = true;
        throw err;
      }
    }
  }

  private async openSession(): Promise<Client> {
    if (this.session) return this.session;
    const session = new Client({
      connectionString: this.options.databaseUrl,
      application_name: this.applicationName,
    });
    const lost = (err?: unknown): void => this.onSessionLost(session, err);
    session.on('error', lost);
    session.on('end', lost);
    session.on('notification', () => {
      this.lastActivity = performance.now();
      this.wakeup.wake();
    });
    this.session = session;
    try {
      await session.connect();
    } catch (err) {
      this.session = null;
      throw err;
    }
    return session;
  }

  private onSessionLost(session: Client, err?: unknown): void {
    if (this.session !== session) return;
    this.session = null;
    if (this.leader)
      this.log('leadership_lost', { error: err === undefined ? 'session ended' : describe(err) });
    this.leader = false;
    session.end().catch(() => undefined);
    this.wakeup.wake();
  }

  private async closeSession(): Promise<void> {
    const session = this.session;
    this.session = null;
    this.leader = false;
    // Ending the session releases the advisory lock; the next replica takes over within its retry.
    if (session) await session.end().catch(() => undefined);
  }
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));
