import {
  ErrorCodes,
  GantryError,
  type CommandEnvelope,
  type DomainEvent,
  type EventEnvelope,
} from '@gantry/contracts';
import { isStreamVersionConflict, type ExpectedVersion } from './errors';
import { type NewEvent } from './envelopes';
import {
  type AggregateOptions,
  type AggregateResult,
  type AppendResult,
  type ReadStreamOptions,
} from './event-store';

/** The part of the event store's public API a command needs; PostgresEventStore is one. */
export interface EventStreams {
  aggregateStream<S>(streamId: string, options: AggregateOptions<S>): Promise<AggregateResult<S>>;
  append(
    streamId: string,
    expectedVersion: ExpectedVersion,
    events: readonly NewEvent[],
  ): Promise<AppendResult>;
  /** Needed only with `stateCache`: the events after a cached version. */
  readStream?(streamId: string, options?: ReadStreamOptions): Promise<readonly EventEnvelope[]>;
}

/** An aggregate's pure functions (CONVENTIONS.md #1): how to start, fold, and answer a command. */
export interface Decider<S, C, E extends DomainEvent> {
  readonly initialState: () => S;
  readonly evolve: (state: S, event: E) => S;
  readonly decide: (state: S, command: C, now: Date) => readonly E[];
  /**
   * Load from the store's snapshots (AggregateOptions.snapshotEvery), for streams that grow long
   * while their state stays small; the state must then survive JSON. Off when absent.
   */
  readonly snapshot?: { readonly every: number; readonly schemaVersion?: number };
}

/** One command of a batch, with who sent it. */
export interface BatchItem<C> {
  readonly command: C;
  readonly context: CommandContext;
}

/** What became of one command of a batch: its events, or its refusal. */
export type BatchOutcome =
  | { readonly ok: true; readonly appended: readonly EventEnvelope[] }
  | { readonly ok: false; readonly error: GantryError };

/** Who asked, and under which piece of work: copied onto every event the command produces. */
export interface CommandContext {
  readonly tenant: string;
  /** The command's id: the cause of the events it produces. */
  readonly causationId: string;
  readonly correlationId: string;
  readonly actor?: string;
  readonly traceparent?: string;
}

/** The context of the events a command produces: the command is their cause, the rest carries over. */
export const commandContextOf = (envelope: CommandEnvelope): CommandContext => ({
  tenant: envelope.metadata.tenant,
  causationId: envelope.id,
  correlationId: envelope.metadata.correlationId,
  ...(envelope.metadata.actor === undefined ? {} : { actor: envelope.metadata.actor }),
  ...(envelope.metadata.traceparent === undefined
    ? {}
    : { traceparent: envelope.metadata.traceparent }),
});

export interface Decision<S> {
  /** The state after the decision (unchanged when the decision was to do nothing). */
  readonly state: S;
  /** The stream version that state reflects. */
  readonly version: number;
  readonly appended: readonly EventEnvelope[];
}

export interface CommandProcessorOptions {
  readonly clock: () => Date;
  /** A uniform draw in [0, 1), for the jitter between retries. */
  readonly random: () => number;
  /** Attempts at load-decide-append before a version conflict is handed to the caller. */
  readonly maxAttempts?: number;
  /** Upper bound of the pause before the n-th retry: min(cap, base * 2^(n-1)), full jitter. */
  readonly retryBaseMs?: number;
  readonly retryCapMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Keep the folded state of up to this many recently used streams in memory, and on the next
   * command read only the events appended since. For streams that grow long and are decided on
   * often (a tenant's: every admission), where even a snapshot leaves a fold per decision. The
   * cache is never trusted for the decision itself: the append still carries the version the state
   * was folded to, so a stale entry costs a conflict and a re-read, never a wrong write.
   */
  readonly stateCache?: {
    readonly maxStreams: number;
    /**
     * handleBatch decides a first time on the cached state as it is, without reading what was
     * appended since: the append's version check is what verifies it, so a stale state costs a
     * conflict, never a wrong write, and the common case (this process is the stream's only
     * recent writer) saves a round trip. A batch whose answer is not verified by an append (a
     * refusal, or nothing to do) is decided again on a fresh read before it is answered.
     */
    readonly decideOnCachedState?: boolean;
  };
}

interface Cached<S> {
  readonly loaded: Loaded<S>;
  readonly version: number;
}

interface Loaded<S> {
  /** The tenant of the stream's events; null while the stream is empty. */
  readonly tenant: string | null;
  readonly state: S;
}

export const DEFAULT_MAX_ATTEMPTS = 5;

/**
 * Load, decide, append; on a lost race, again (ARCHITECTURE.md invariant 2). The append carries
 * the version the decision was made on, so two racers cannot both win: the loser re-reads the
 * winner's events and decides afresh against them, which may now be a refusal or nothing at all.
 * Retries are bounded; past them the retryable STREAM_VERSION_CONFLICT goes back to the sender.
 *
 * Tenancy (invariant 7): a stream written by another tenant is treated exactly like an empty
 * one, so the answer (normally NOT_FOUND from the domain) is the one a missing job gets, and
 * nothing is ever appended to it.
 */
export class CommandProcessor {
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;
  private readonly retryCapMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Insertion order is recency: a hit is re-inserted, the oldest entry is evicted first. */
  private readonly cache = new Map<string, Cached<unknown>>();

  constructor(
    private readonly store: EventStreams,
    private readonly options: CommandProcessorOptions,
  ) {
    this.maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.retryBaseMs = options.retryBaseMs ?? 5;
    this.retryCapMs = options.retryCapMs ?? 100;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async handle<S, C, E extends DomainEvent>(
    decider: Decider<S, C, E>,
    streamId: string,
    command: C,
    context: CommandContext,
  ): Promise<Decision<S>> {
    for (let attempt = 1; ; attempt += 1) {
      const loaded = await this.load(decider, streamId);
      const foreign = loaded.state.tenant !== null && loaded.state.tenant !== context.tenant;
      const state = foreign ? decider.initialState() : loaded.state.state;
      const version = foreign ? 0 : loaded.version;
      const now = this.options.clock();
      const events = decider.decide(state, command, now);
      if (events.length === 0) return { state, version, appended: [] };
      if (foreign) {
        // Only a creating command decides anything on an empty stream; this one is taken.
        throw new GantryError(ErrorCodes.NOT_FOUND, `${streamId} does not exist`, {
          details: { streamId },
        });
      }
      let appended: AppendResult;
      try {
        appended = await this.store.append(
          streamId,
          version,
          events.map((event) => toNewEvent(event, context, now)),
        );
      } catch (err) {
        if (!isStreamVersionConflict(err) || attempt >= this.maxAttempts) throw err;
        await this.sleep(this.backoffMs(attempt));
        continue;
      }
      // Fold what was stored (data as the schema wrote it, defaults applied), not what was asked.
      const next = appended.events.reduce(
        (acc, envelope) => decider.evolve(acc, asDomainEvent<E>(envelope)),
        state,
      );
      this.remember(
        streamId,
        { tenant: loaded.state.tenant ?? context.tenant, state: next },
        appended.nextVersion,
      );
      return { state: next, version: appended.nextVersion, appended: appended.events };
    }
  }

  /**
   * A stream's state and version now, through the cache when there is one (a read of what was
   * appended since): for readers that must compare against the truth without refolding it.
   */
  async stateOf<S, C, E extends DomainEvent>(
    decider: Decider<S, C, E>,
    streamId: string,
  ): Promise<{ readonly state: S; readonly version: number }> {
    const loaded = await this.load(decider, streamId);
    return { state: loaded.state.state, version: loaded.version };
  }

  /**
   * What the command would decide now, without appending anything: a dry run. The answer can go
   * stale at once (another decision may land first); the real command decides again.
   */
  async decideOnly<S, C, E extends DomainEvent>(
    decider: Decider<S, C, E>,
    streamId: string,
    command: C,
    context: CommandContext,
  ): Promise<readonly E[]> {
    const loaded = await this.load(decider, streamId);
    const foreign = loaded.state.tenant !== null && loaded.state.tenant !== context.tenant;
    const state = foreign ? decider.initialState() : loaded.state.state;
    return decider.decide(state, command, this.options.clock());
  }

  /**
   * Several commands to one stream, decided in order against the state each leaves and appended
   * together: one round trip and one commit for all of them. For a hot stream (a tenant's, at
   * every submission), it turns N commits that would queue behind each other into one. Each
   * command gets its own outcome: a refusal (a GantryError) fails that command only, its events
   * are not appended and the next command is decided as if it had not been sent. On a lost race
   * the whole batch is decided again on the winner's events. All commands must come from one
   * tenant: the stream's owner check is made once.
   */
  async handleBatch<S, C, E extends DomainEvent>(
    decider: Decider<S, C, E>,
    streamId: string,
    items: readonly BatchItem<C>[],
  ): Promise<BatchOutcome[]> {
    const tenant = items[0]?.context.tenant;
    if (tenant === undefined) return [];
    if (items.some((item) => item.context.tenant !== tenant)) {
      throw new GantryError(ErrorCodes.VALIDATION_FAILED, 'a batch is decided for one tenant', {
        details: { streamId },
      });
    }
    let fresh = this.options.stateCache?.decideOnCachedState !== true;
    for (let attempt = 1; ; attempt += 1) {
      const cached = fresh ? undefined : this.cachedLoad<S>(streamId);
      const loaded = cached ?? (await this.load(decider, streamId));
      const unverified = cached !== undefined;
      const foreign = loaded.state.tenant !== null && loaded.state.tenant !== tenant;
      let state = foreign ? decider.initialState() : loaded.state.state;
      const version = foreign ? 0 : loaded.version;
      const now = this.options.clock();
      const outcomes: (BatchOutcome | 'decided')[] = [];
      const counts: number[] = [];
      const toAppend: NewEvent[] = [];
      for (const item of items) {
        let events: readonly E[];
        try {
          events = decider.decide(state, item.command, now);
          if (events.length > 0 && foreign) {
            throw new GantryError(ErrorCodes.NOT_FOUND, `${streamId} does not exist`, {
              details: { streamId },
            });
          }
        } catch (error) {
          // A refusal belongs to its command; anything else is a fault of the whole batch.
          if (!(error instanceof GantryError)) throw error;
          outcomes.push({ ok: false, error });
          counts.push(0);
          continue;
        }
        state = events.reduce(decider.evolve, state);
        toAppend.push(...events.map((event) => toNewEvent(event, item.context, now)));
        outcomes.push('decided');
        counts.push(events.length);
      }
      // Only an append verifies a decision made on an unread cache: refusals and no-ops may rest
      // on a stale state, so they are decided again on what the store holds now.
      if (unverified && (toAppend.length === 0 || outcomes.some((o) => o !== 'decided'))) {
        fresh = true;
        continue;
      }
      if (toAppend.length === 0) {
        return outcomes.map((o) => (o === 'decided' ? { ok: true, appended: [] } : o));
      }
      let appended: AppendResult;
      try {
        appended = await this.store.append(streamId, version, toAppend);
      } catch (err) {
        if (!isStreamVersionConflict(err) || attempt >= this.maxAttempts) throw err;
        fresh = true;
        // Lost to another writer that the cache had not seen: re-read at once, no backoff.
        if (!unverified) await this.sleep(this.backoffMs(attempt));
        continue;
      }
      const folded = appended.events.reduce(
        (acc, envelope) => decider.evolve(acc, asDomainEvent<E>(envelope)),
        loaded.state.state,
      );
      this.remember(streamId, { tenant, state: folded }, appended.nextVersion);
      let next = 0;
      return outcomes.map((outcome, i) => {
        const taken = appended.events.slice(next, next + counts[i]!);
        next += counts[i]!;
        return outcome === 'decided' ? { ok: true, appended: taken } : outcome;
      });
    }
  }

  /** The cached state as it is, not read against the store. */
  private cachedLoad<S>(streamId: string): AggregateResult<Loaded<S>> | undefined {
    const cached = this.cache.get(streamId) as Cached<S> | undefined;
    if (cached === undefined) return undefined;
    return { state: cached.loaded, version: cached.version, eventsFolded: 0 };
  }

  private async load<S, C, E extends DomainEvent>(
    decider: Decider<S, C, E>,
    streamId: string,
  ): Promise<AggregateResult<Loaded<S>>> {
    const evolveLoaded = (acc: Loaded<S>, envelope: EventEnvelope): Loaded<S> => ({
      tenant: acc.tenant ?? envelope.metadata.tenant,
      state: decider.evolve(acc.state, asDomainEvent<E>(envelope)),
    });
    const cached = this.cache.get(streamId) as Cached<S> | undefined;
    if (cached !== undefined && this.store.readStream !== undefined) {
      const newer = await this.store.readStream(streamId, { fromVersion: cached.version + 1 });
      const loaded = newer.reduce(evolveLoaded, cached.loaded);
      const version = newer.at(-1)?.metadata.streamVersion ?? cached.version;
      this.remember(streamId, loaded, version);
      return { state: loaded, version, eventsFolded: newer.length };
    }
    const result = await this.store.aggregateStream<Loaded<S>>(streamId, {
      initial: () => ({ tenant: null, state: decider.initialState() }),
      evolve: evolveLoaded,
      ...(decider.snapshot === undefined
        ? {}
        : {
            snapshotEvery: decider.snapshot.every,
            ...(decider.snapshot.schemaVersion === undefined
              ? {}
              : { snapshotSchemaVersion: decider.snapshot.schemaVersion }),
          }),
    });
    this.remember(streamId, result.state, result.version);
    return result;
  }

  private remember<S>(streamId: string, loaded: Loaded<S>, version: number): void {
    const max = this.options.stateCache?.maxStreams ?? 0;
    if (max <= 0 || version === 0) return;
    this.cache.delete(streamId);
    this.cache.set(streamId, { loaded, version });
    if (this.cache.size > max) this.cache.delete(this.cache.keys().next().value as string);
  }

  /** Full jitter: racers that lost together spread out instead of colliding again. */
  private backoffMs(attempt: number): number {
    const ceiling = Math.min(this.retryCapMs, this.retryBaseMs * 2 ** (attempt - 1));
    return Math.floor(this.options.random() * ceiling);
  }
}

/** The store validated and upcast the data on read against the registry: it is an E's data. */
const asDomainEvent = <E extends DomainEvent>(envelope: EventEnvelope): E =>
  ({ type: envelope.type, data: envelope.data }) as unknown as E;

const toNewEvent = (event: DomainEvent, context: CommandContext, now: Date): NewEvent => ({
  type: event.type,
  data: event.data,
  metadata: {
    tenant: context.tenant,
    causationId: context.causationId,
    correlationId: context.correlationId,
    occurredAt: now,
    ...(context.actor === undefined ? {} : { actor: context.actor }),
    ...(context.traceparent === undefined ? {} : { traceparent: context.traceparent }),
  },
});
