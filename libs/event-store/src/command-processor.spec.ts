import { randomUUID } from 'node:crypto';
import { ErrorCodes, GantryError, type DomainEvent, type EventEnvelope } from '@gantry/contracts';
import {
  StreamVersionConflictError,
  type AggregateOptions,
  type AggregateResult,
  type AppendResult,
  type ExpectedVersion,
  type NewEvent,
} from './index';
import {
  CommandProcessor,
  commandContextOf,
  type CommandContext,
  type Decider,
  type EventStreams,
} from './command-processor';

/**
 * The load-decide-append-retry loop against an in-memory stream that can be told to lose races.
 * (Unit tests of the loop only; the controller's and admission's int tests run it on the real store.)
 */
type Added = DomainEvent<'Added', { readonly amount: number }>;
interface Add {
  readonly amount: number;
  /** Refused once the total would pass this. */
  readonly limit: number;
}

const counter: Decider<number, Add, Added> = {
  initialState: () => 0,
  evolve: (total, event) => total + event.data.amount,
  decide: (total, command) => {
    if (command.amount === 0) return [];
    if (total + command.amount > command.limit)
      throw new GantryError(
        ErrorCodes.ILLEGAL_TRANSITION,
        `${total} + ${command.amount} passes the limit`,
      );
    return [{ type: 'Added', data: { amount: command.amount } }];
  },
};

const context: CommandContext = {
  tenant: 'acme',
  causationId: 'cmd-1',
  correlationId: 'corr-1',
  actor: 'key-7',
};

class RacingStore implements EventStreams {
  readonly streams = new Map<string, EventEnvelope[]>();
  appendCalls = 0;
  /** Each lost race: a rival appends this amount just before our append, which then conflicts. */
  rivals: number[] = [];

  seed(streamId: string, tenant: string, amount: number): void {
    this.push(streamId, tenant, { type: 'Added', data: { amount } }, 'seed');
  }

  readonly aggregateOptions: AggregateOptions<unknown>[] = [];
  readonly readsFrom: number[] = [];

  async readStream(
    streamId: string,
    options: { fromVersion?: number } = {},
  ): Promise<readonly EventEnvelope[]> {
    const from = options.fromVersion ?? 1;
    this.readsFrom.push(from);
    return (this.streams.get(streamId) ?? []).slice(from - 1);
  }

  async aggregateStream<S>(
    streamId: string,
    options: AggregateOptions<S>,
  ): Promise<AggregateResult<S>> {
    this.aggregateOptions.push(options as AggregateOptions<unknown>);
    const events = this.streams.get(streamId) ?? [];
    return {
      state: events.reduce(options.evolve, options.initial()),
      version: events.length,
      eventsFolded: events.length,
    };
  }

  async append(
    streamId: string,
    expectedVersion: ExpectedVersion,
    events: readonly NewEvent[],
  ): Promise<AppendResult> {
    this.appendCalls += 1;
    const rival = this.rivals.shift();
    if (rival !== undefined) this.seed(streamId, events[0]!.metadata.tenant, rival);
    const actual = this.streams.get(streamId)?.length ?? 0;
    if (expectedVersion !== actual)
      throw new StreamVersionConflictError(streamId, expectedVersion, actual, 'version');
    const stored = events.map((e) =>
      this.push(
        streamId,
        e.metadata.tenant,
        { type: e.type, data: e.data as Record<string, unknown> },
        e.metadata.causationId,
        e.metadata,
      ),
    );
    return { nextVersion: actual + events.length, events: stored };
  }

  private push(
    streamId: string,
    tenant: string,
    event: { type: string; data: Record<string, unknown> },
    causationId: string | null,
    extra: Partial<NewEvent['metadata']> = {},
  ): EventEnvelope {
    const stream = this.streams.get(streamId) ?? [];
    const envelope: EventEnvelope = {
      id: randomUUID(),
      type: event.type,
      schemaVersion: 1,
      data: event.data,
      metadata: {
        tenant,
        occurredAt: new Date(extra.occurredAt ?? 0).toISOString(),
        causationId,
        correlationId: extra.correlationId ?? 'other',
        ...(extra.actor === undefined ? {} : { actor: extra.actor }),
        streamId,
        streamVersion: stream.length + 1,
      },
    };
    this.streams.set(streamId, [...stream, envelope]);
    return envelope;
  }
}

const NOW = new Date('2025-03-01T12:00:00.000Z');

const setup = (maxAttempts = 5, cachedStreams = 0, decideOnCachedState = false) => {
  const store = new RacingStore();
  const pauses: number[] = [];
  const processor = new CommandProcessor(store, {
    clock: () => NOW,
    random: () => 0.5,
    maxAttempts,
    ...(cachedStreams > 0
      ? { stateCache: { maxStreams: cachedStreams, decideOnCachedState } }
      : {}),
    sleep: async (ms) => {
      pauses.push(ms);
    },
  });
  return { store, pauses, processor };
};

const codeOf = async (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'resolved',
    (err: unknown) => (err instanceof GantryError ? err.code : String(err)),
  );

describe('CommandProcessor', () => {
  it('appends the decision at the version it read, with the command as cause', async () => {
    const { store, processor } = setup();
    store.seed('counter-1', 'acme', 2);
    const decision = await processor.handle(
      counter,
      'counter-1',
      { amount: 3, limit: 10 },
      context,
    );
    expect(decision.state).toBe(5);
    expect(decision.version).toBe(2);
    const last = store.streams.get('counter-1')![1]!;
    expect(last.metadata).toMatchObject({
      tenant: 'acme',
      causationId: 'cmd-1',
      correlationId: 'corr-1',
      actor: 'key-7',
      occurredAt: NOW.toISOString(),
      streamVersion: 2,
    });
  });

  it.each([1, 2, 4])(
    're-reads and decides again after %i lost race(s), then wins',
    async (lost) => {
      const { store, pauses, processor } = setup(5);
      store.rivals = Array.from({ length: lost }, () => 1);
      const decision = await processor.handle(
        counter,
        'counter-1',
        { amount: 3, limit: 10 },
        context,
      );
      expect(store.appendCalls).toBe(lost + 1);
      // The rivals' events are folded in: the decision was made against the stream as it stood.
      expect(decision).toMatchObject({ state: lost + 3, version: lost + 1 });
      expect(store.streams.get('counter-1')!.map((e) => e.metadata.streamVersion)).toEqual(
        Array.from({ length: lost + 1 }, (_, i) => i + 1),
      );
      expect(pauses).toHaveLength(lost);
    },
  );

  it('hands the conflict back once its attempts are spent, having written nothing of its own', async () => {
    const { store, processor } = setup(3);
    store.rivals = [1, 1, 1];
    const err = await processor
      .handle(counter, 'counter-1', { amount: 3, limit: 10 }, context)
      .catch((e: unknown) => e as GantryError);
    expect(err).toBeInstanceOf(StreamVersionConflictError);
    expect((err as GantryError).retryable).toBe(true);
    expect(store.appendCalls).toBe(3);
    expect(store.streams.get('counter-1')!.every((e) => e.metadata.causationId === 'seed')).toBe(
      true,
    );
  });

  it('refuses after a lost race when the winner made the command illegal', async () => {
    const { store, processor } = setup();
    store.rivals = [8];
    expect(
      await codeOf(processor.handle(counter, 'counter-1', { amount: 3, limit: 10 }, context)),
    ).toBe(ErrorCodes.ILLEGAL_TRANSITION);
    expect(store.streams.get('counter-1')).toHaveLength(1);
  });

  it('appends nothing when the decision is to do nothing', async () => {
    const { store, processor } = setup();
    store.seed('counter-1', 'acme', 2);
    const decision = await processor.handle(
      counter,
      'counter-1',
      { amount: 0, limit: 10 },
      context,
    );
    expect(decision).toEqual({ state: 2, version: 1, appended: [] });
    expect(store.appendCalls).toBe(0);
  });

  it('does not retry a refusal', async () => {
    const { store, processor } = setup();
    store.seed('counter-1', 'acme', 9);
    expect(
      await codeOf(processor.handle(counter, 'counter-1', { amount: 3, limit: 10 }, context)),
    ).toBe(ErrorCodes.ILLEGAL_TRANSITION);
    expect(store.appendCalls).toBe(0);
  });

  it("treats another tenant's stream as missing and never appends to it", async () => {
    const { store, processor } = setup();
    store.seed('counter-1', 'globex', 2);
    const asGlobex = await processor.handle(
      counter,
      'counter-1',
      { amount: 0, limit: 10 },
      {
        ...context,
        tenant: 'globex',
      },
    );
    expect(asGlobex.state).toBe(2);
    // To acme the stream looks empty (state 0, version 0), and a write to it is NOT_FOUND.
    expect(await processor.handle(counter, 'counter-1', { amount: 0, limit: 10 }, context)).toEqual(
      {
        state: 0,
        version: 0,
        appended: [],
      },
    );
    expect(
      await codeOf(processor.handle(counter, 'counter-1', { amount: 1, limit: 10 }, context)),
    ).toBe(ErrorCodes.NOT_FOUND);
    expect(store.appendCalls).toBe(0);
  });

  it('spreads retries with jittered, growing, capped pauses', async () => {
    const store = new RacingStore();
    const pauses: number[] = [];
    const processor = new CommandProcessor(store, {
      clock: () => NOW,
      random: () => 0.999,
      maxAttempts: 6,
      retryBaseMs: 10,
      retryCapMs: 50,
      sleep: async (ms) => {
        pauses.push(ms);
      },
    });
    store.rivals = [1, 1, 1, 1, 1];
    await processor.handle(counter, 'counter-1', { amount: 1, limit: 100 }, context);
    expect(pauses).toEqual([9, 19, 39, 49, 49]);
  });

  it('with a state cache, folds only the events appended since it last decided', async () => {
    const { store, processor } = setup(5, 10);
    store.seed('counter-1', 'acme', 2);
    await processor.handle(counter, 'counter-1', { amount: 3, limit: 100 }, context);
    expect(store.aggregateOptions).toHaveLength(1);
    // Another writer appends behind the cache's back; the next decision still sees it.
    store.seed('counter-1', 'acme', 10);
    const decision = await processor.handle(
      counter,
      'counter-1',
      { amount: 1, limit: 100 },
      context,
    );
    expect(decision).toMatchObject({ state: 16, version: 4 });
    expect(store.aggregateOptions).toHaveLength(1);
    expect(store.readsFrom).toEqual([3]);
  });

  it('with a state cache, a rival that wins the race is read and decided against', async () => {
    const { store, processor } = setup(5, 10);
    store.seed('counter-1', 'acme', 2);
    await processor.handle(counter, 'counter-1', { amount: 3, limit: 100 }, context);
    store.rivals = [90];
    expect(
      await codeOf(processor.handle(counter, 'counter-1', { amount: 6, limit: 100 }, context)),
    ).toBe(ErrorCodes.ILLEGAL_TRANSITION);
    expect(store.streams.get('counter-1')!.map((e) => e.data['amount'])).toEqual([2, 3, 90]);
  });

  it('keeps no more streams than it was allowed', async () => {
    const { store, processor } = setup(5, 2);
    for (const id of ['counter-1', 'counter-2', 'counter-3']) {
      await processor.handle(counter, id, { amount: 1, limit: 100 }, context);
    }
    await processor.handle(counter, 'counter-1', { amount: 1, limit: 100 }, context);
    // counter-1 was the least recently used when counter-3 came: it was folded afresh.
    expect(store.aggregateOptions).toHaveLength(4);
    expect(store.streams.get('counter-1')).toHaveLength(2);
  });

  it('decides a batch in order, refuses only the commands that do not fit, and appends once', async () => {
    const { store, processor } = setup();
    store.seed('counter-1', 'acme', 2);
    const outcomes = await processor.handleBatch(counter, 'counter-1', [
      { command: { amount: 5, limit: 10 }, context: { ...context, causationId: 'c1' } },
      { command: { amount: 5, limit: 10 }, context: { ...context, causationId: 'c2' } },
      { command: { amount: 3, limit: 10 }, context: { ...context, causationId: 'c3' } },
    ]);
    expect(outcomes.map((o) => (o.ok ? o.appended.length : o.error.code))).toEqual([
      1,
      ErrorCodes.ILLEGAL_TRANSITION,
      1,
    ]);
    expect(store.appendCalls).toBe(1);
    const stream = store.streams.get('counter-1')!;
    expect(stream.map((e) => [e.data['amount'], e.metadata.causationId])).toEqual([
      [2, 'seed'],
      [5, 'c1'],
      [3, 'c3'],
    ]);
  });

  it('decides the whole batch again when a rival wins the race', async () => {
    const { store, processor } = setup();
    store.rivals = [8];
    const outcomes = await processor.handleBatch(counter, 'counter-1', [
      { command: { amount: 3, limit: 10 }, context },
      { command: { amount: 1, limit: 10 }, context },
    ]);
    // Against the rival's 8: the 3 no longer fits, the 1 still does.
    expect(outcomes.map((o) => o.ok)).toEqual([false, true]);
    expect(store.streams.get('counter-1')!.map((e) => e.data['amount'])).toEqual([8, 1]);
  });

  describe('deciding a batch on the cached state', () => {
    const batchOf = (...amounts: number[]) =>
      amounts.map((amount) => ({ command: { amount, limit: 10 }, context }));

    it('reads nothing when the cache is current, and lets the append verify it', async () => {
      const { store, processor } = setup(5, 10, true);
      store.seed('counter-1', 'acme', 2);
      await processor.handleBatch(counter, 'counter-1', batchOf(1));
      const outcomes = await processor.handleBatch(counter, 'counter-1', batchOf(1));
      expect(outcomes.map((o) => o.ok)).toEqual([true]);
      expect(store.readsFrom).toEqual([]);
      expect(store.streams.get('counter-1')!.map((e) => e.data['amount'])).toEqual([2, 1, 1]);
    });

    it('never appends on a stale cache: the lost race is re-read and decided again', async () => {
      const { store, processor } = setup(5, 10, true);
      store.seed('counter-1', 'acme', 2);
      await processor.handleBatch(counter, 'counter-1', batchOf(1));
      // Another writer behind the cache's back: the cached 3 is stale, the stream is at 9.
      store.seed('counter-1', 'acme', 6);
      const outcomes = await processor.handleBatch(counter, 'counter-1', batchOf(2, 1));
      expect(outcomes.map((o) => o.ok)).toEqual([false, true]);
      expect(store.streams.get('counter-1')!.map((e) => e.data['amount'])).toEqual([2, 1, 6, 1]);
    });

    it('re-reads before answering a refusal the cache alone decided', async () => {
      const { store, processor } = setup(5, 10, true);
      store.seed('counter-1', 'acme', 9);
      await processor.handleBatch(counter, 'counter-1', batchOf(0));
      // The stream is really empty of room only in the cache: a rival gave some back.
      store.seed('counter-1', 'acme', -5);
      const outcomes = await processor.handleBatch(counter, 'counter-1', batchOf(3));
      expect(outcomes.map((o) => o.ok)).toEqual([true]);
      expect(store.readsFrom).toEqual([2]);
    });
  });

  it('refuses a batch that mixes tenants', async () => {
    const { processor } = setup();
    expect(
      await codeOf(
        processor.handleBatch(counter, 'counter-1', [
          { command: { amount: 1, limit: 10 }, context },
          { command: { amount: 1, limit: 10 }, context: { ...context, tenant: 'globex' } },
        ]),
      ),
    ).toBe(ErrorCodes.VALIDATION_FAILED);
  });

  it('asks the store for snapshots only when the decider wants them', async () => {
    const { store, processor } = setup();
    await processor.handle(counter, 'counter-1', { amount: 1, limit: 100 }, context);
    const snapshotted = { ...counter, snapshot: { every: 50, schemaVersion: 3 } };
    const decision = await processor.handle(
      snapshotted,
      'counter-1',
      { amount: 2, limit: 100 },
      context,
    );
    expect(decision).toMatchObject({ state: 3, version: 2 });
    expect(store.aggregateOptions.map((o) => [o.snapshotEvery, o.snapshotSchemaVersion])).toEqual([
      [undefined, undefined],
      [50, 3],
    ]);
  });
});

describe('commandContextOf', () => {
  it('makes the command the cause and keeps its tenant, correlation, actor and trace', () => {
    const envelope = {
      id: 'cmd-9',
      type: 'AdmitJob',
      schemaVersion: 1,
      data: { jobId: 'j1' },
      metadata: {
        tenant: 'acme',
        occurredAt: NOW.toISOString(),
        causationId: 'earlier',
        correlationId: 'corr-1',
        actor: 'admission',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      },
    };
    expect(commandContextOf(envelope)).toEqual({
      tenant: 'acme',
      causationId: 'cmd-9',
      correlationId: 'corr-1',
      actor: 'admission',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
  });
});
