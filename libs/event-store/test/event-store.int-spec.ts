import { randomUUID } from 'node:crypto';
import { ErrorCodes, eventRegistry, GantryError, type EventEnvelope } from '@gantry/contracts';
import { Client } from 'pg';
import { type QueryRunner } from 'typeorm';
import {
  AppendWithoutStreamsTable1763900000002,
  PostgresEventStore,
  StreamVersionConflictError,
  type AppendResult,
  type Checkpoint,
} from '../src';
import { anEvent, createStoreFixture, events, eventually, type StoreFixture } from './support';

let fx: StoreFixture;
beforeAll(async () => {
  fx = await createStoreFixture(25);
});
afterAll(async () => {
  await fx.close();
});

const newStream = () => `job-${randomUUID()}`;
const versionsOf = (list: readonly EventEnvelope[]) => list.map((e) => e.metadata.streamVersion);

describe('append and readStream', () => {
  it('assigns gapless versions from 1 and returns the stored envelopes', async () => {
    const stream = newStream();
    const first = await fx.store.append(stream, 'no_stream', events(2));
    const second = await fx.store.append(stream, 2, events(3));

    expect(first.nextVersion).toBe(2);
    expect(second.nextVersion).toBe(5);
    const read = await fx.store.readStream(stream);
    expect(versionsOf(read)).toEqual([1, 2, 3, 4, 5]);
    expect(read).toEqual([...first.events, ...second.events]);
    expect(await fx.store.readStream(stream, { fromVersion: 3, maxCount: 2 })).toEqual(
      second.events.slice(0, 2),
    );
  });

  it("appends with 'any' whatever the version", async () => {
    const stream = newStream();
    await fx.store.append(stream, 'any', events(1));
    const result = await fx.store.append(stream, 'any', events(2));
    expect(result.nextVersion).toBe(3);
  });

  it('refuses no_stream for an existing stream and a stale version, with the actual version', async () => {
    const stream = newStream();
    await fx.store.append(stream, 'no_stream', events(2));

    await expect(fx.store.append(stream, 'no_stream', events(1))).rejects.toMatchObject({
      code: ErrorCodes.STREAM_VERSION_CONFLICT,
      actualVersion: 2,
      retryable: true,
    });
    await expect(fx.store.append(stream, 1, events(1))).rejects.toBeInstanceOf(
      StreamVersionConflictError,
    );
    await expect(fx.store.append(newStream(), 3, events(1))).rejects.toMatchObject({
      actualVersion: 0,
    });
  });

  it('lets exactly one of 50 racing appends at the same expected version win, leaving no gap and no duplicate', async () => {
    const stream = newStream();
    await fx.store.append(stream, 'no_stream', events(1));

    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, () => fx.store.append(stream, 1, events(2))),
    );

    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(49);
    for (const err of lost) {
      expect(err).toBeInstanceOf(StreamVersionConflictError);
      expect(err).toMatchObject({
        code: ErrorCodes.STREAM_VERSION_CONFLICT,
        expectedVersion: 1,
        actualVersion: 3,
      });
    }
    expect(versionsOf(await fx.store.readStream(stream))).toEqual([1, 2, 3]);
    // Exactly the winner's rows, straight from the table: no loser wrote anything, not even a row
    // at another version.
    const { rows } = await fx.pool.query(
      'SELECT stream_version, event_id FROM events WHERE stream_id = $1 ORDER BY stream_version',
      [stream],
    );
    expect(rows.map((r) => r.stream_version)).toEqual([1, 2, 3]);
    const winner = (won[0] as PromiseFulfilledResult<AppendResult>).value;
    expect(rows.slice(1).map((r) => r.event_id)).toEqual(winner.events.map((e) => e.id));
  });

  it("lets every one of 20 racing 'any' appends land, in some order, without gap or duplicate", async () => {
    const stream = newStream();
    await fx.store.append(stream, 'no_stream', events(1));
    const store = new PostgresEventStore(fx.pool, eventRegistry, { anyVersionRetries: 100 });

    const results = await Promise.all(
      Array.from({ length: 20 }, () => store.append(stream, 'any', events(2))),
    );

    expect(results.map((r) => r.nextVersion).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => 3 + 2 * i),
    );
    const read = await fx.store.readStream(stream);
    expect(versionsOf(read)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    // Each append's two events are adjacent: a batch is never interleaved with another.
    for (const { events: appended } of results) {
      const [a, b] = appended.map((e) => e.metadata.streamVersion);
      expect(b).toBe(a! + 1);
      expect(read[a! - 1]!.id).toBe(appended[0]!.id);
    }
  });

  it("has an 'any' append in a caller transaction wait for a racer and land after it", async () => {
    const stream = newStream();
    await fx.store.append(stream, 'no_stream', events(1));
    const racer = await fx.pool.connect();
    try {
      await racer.query('BEGIN');
      await fx.store.append(stream, 1, events(1), { tx: racer }); // holds version 2, uncommitted
      const result = fx.store.withTransaction(async (tx) => {
        // This transaction takes its id after the racer's: landing after it keeps the order.
        await tx.query('SELECT pg_current_xact_id()');
        return fx.store.append(stream, 'any', events(1), { tx });
      });
      await new Promise((r) => setTimeout(r, 200)); // let it block on the racer's version 2
      await racer.query('COMMIT');
      expect((await result).nextVersion).toBe(3);
    } finally {
      racer.release();
    }
    expect(versionsOf(await fx.store.readStream(stream))).toEqual([1, 2, 3]);
  });

  it('refuses a second append at a version a racing transaction holds, once that one commits', async () => {
    const stream = newStream();
    await fx.store.append(stream, 'no_stream', events(1));
    const racer = await fx.pool.connect();
    try {
      await racer.query('BEGIN');
      await fx.store.append(stream, 1, events(2), { tx: racer });
      const loser = fx.store.append(stream, 1, events(1));
      await new Promise((r) => setTimeout(r, 200)); // it waits on the racer's uncommitted version 2
      await racer.query('COMMIT');
      await expect(loser).rejects.toMatchObject({
        code: ErrorCodes.STREAM_VERSION_CONFLICT,
        reason: 'version',
        expectedVersion: 1,
        actualVersion: 3,
      });
    } finally {
      racer.release();
    }
    expect(versionsOf(await fx.store.readStream(stream))).toEqual([1, 2, 3]);
  });

  it('lets an append proceed when the racing transaction it waited on rolls back', async () => {
    const stream = newStream();
    await fx.store.append(stream, 'no_stream', events(1));
    const racer = await fx.pool.connect();
    try {
      await racer.query('BEGIN');
      await fx.store.append(stream, 1, events(1), { tx: racer });
      const waiting = fx.store.append(stream, 1, events(2));
      await new Promise((r) => setTimeout(r, 200));
      await racer.query('ROLLBACK');
      await expect(waiting).resolves.toMatchObject({ nextVersion: 3 });
    } finally {
      racer.release();
    }
    expect(versionsOf(await fx.store.readStream(stream))).toEqual([1, 2, 3]);
  });

  it('refuses an event id already stored, as such, and writes nothing of the append', async () => {
    const stream = newStream();
    const first = await fx.store.append(stream, 'no_stream', events(1));
    const id = first.events[0]!.id;
    const other = newStream();

    for (const [target, expected] of [
      [stream, 1],
      [other, 'no_stream'],
    ] as const) {
      const error = await fx.store
        .append(target, expected, [anEvent().build(), { ...anEvent().build(), id }])
        .catch((err: unknown) => err);
      expect(error).toBeInstanceOf(GantryError);
      expect(error).not.toBeInstanceOf(StreamVersionConflictError);
      expect(error).toMatchObject({
        code: ErrorCodes.VALIDATION_FAILED,
        message: 'an event with this id is already stored',
        retryable: false,
        details: { streamId: target, eventId: id },
      });
    }
    expect(versionsOf(await fx.store.readStream(stream))).toEqual([1]);
    expect(await fx.store.readStream(other)).toEqual([]);
  });

  it('refuses an append from a transaction that began before a later one appended to the stream', async () => {
    const stream = newStream();
    await fx.store.append(stream, 'no_stream', events(1));
    const early = await fx.pool.connect();
    try {
      await early.query('BEGIN');
      await early.query('SELECT pg_current_xact_id()'); // takes its xid now
      await fx.store.append(stream, 1, events(1)); // a later transaction commits version 2

      await expect(fx.store.append(stream, 2, events(1), { tx: early })).rejects.toMatchObject({
        code: ErrorCodes.STREAM_VERSION_CONFLICT,
        reason: 'transaction_order',
        retryable: true,
      });
      await early.query('ROLLBACK');
    } finally {
      early.release();
    }
    // A fresh transaction succeeds: the refusal was about order, not about the version.
    await expect(fx.store.append(stream, 2, events(1))).resolves.toMatchObject({ nextVersion: 3 });
    // Along the stream, transaction ids never fall as versions rise.
    const { rows } = await fx.pool.query<{ transaction_id: string }>(
      'SELECT transaction_id::text FROM events WHERE stream_id = $1 ORDER BY stream_version',
      [stream],
    );
    const xids = rows.map((r) => BigInt(r.transaction_id));
    expect(xids).toEqual([...xids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it("refuses an 'any' append in an older transaction too, and retries one of its own", async () => {
    const stream = newStream();
    await fx.store.append(stream, 'no_stream', events(1));
    const early = await fx.pool.connect();
    try {
      await early.query('BEGIN');
      await early.query('SELECT pg_current_xact_id()');
      await fx.store.append(stream, 'any', events(1));

      await expect(fx.store.append(stream, 'any', events(1), { tx: early })).rejects.toMatchObject({
        reason: 'transaction_order',
        actualVersion: 2,
      });
      await early.query('ROLLBACK');
    } finally {
      early.release();
    }
    expect(versionsOf(await fx.store.readStream(stream))).toEqual([1, 2]);
  });

  it('refuses an append from a transaction that began before a racer it waited on', async () => {
    const stream = newStream();
    await fx.store.append(stream, 'no_stream', events(1));
    const early = await fx.pool.connect();
    const racer = await fx.pool.connect();
    try {
      await early.query('BEGIN');
      await early.query('SELECT pg_current_xact_id()'); // the older id
      await racer.query('BEGIN');
      await fx.store.append(stream, 1, events(1), { tx: racer }); // the newer id holds version 2
      const waiting = fx.store.append(stream, 'any', events(1), { tx: early });
      await new Promise((r) => setTimeout(r, 200));
      await racer.query('COMMIT');
      await expect(waiting).rejects.toMatchObject({
        reason: 'transaction_order',
        actualVersion: 2,
      });
      await early.query('ROLLBACK');
    } finally {
      early.release();
      racer.release();
    }
    expect(versionsOf(await fx.store.readStream(stream))).toEqual([1, 2]);
  });

  it('refuses an append to a stream owned by another tenant', async () => {
    const stream = newStream();
    await fx.store.append(stream, 'no_stream', events(1));
    for (const expected of [1, 'any', 'no_stream', 7] as const) {
      await expect(
        fx.store.append(stream, expected, [anEvent().forTenant('globex').build()]),
      ).rejects.toMatchObject({
        code: ErrorCodes.VALIDATION_FAILED,
        message: `stream ${stream} belongs to another tenant`,
      });
    }
    expect(versionsOf(await fx.store.readStream(stream))).toEqual([1]);
  });

  it('serves the last-event read of an append from the (stream_id, stream_version) unique index', async () => {
    const { rows } = await fx.pool.query<{ def: string }>(
      `SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index
        WHERE indrelid = 'events'::regclass AND indisunique`,
    );
    expect(rows.map((r) => r.def)).toContainEqual(
      expect.stringMatching(
        /UNIQUE INDEX \S+ ON public\.events USING btree \(stream_id, stream_version\)$/,
      ),
    );
    const leftovers = await fx.pool.query(
      `SELECT to_regclass('streams') AS streams, to_regproc('gantry_append_to_stream') AS fn`,
    );
    expect(leftovers.rows[0]).toEqual({ streams: null, fn: null });
  });

  it('appends inside a caller transaction and rolls back with it', async () => {
    const stream = newStream();
    await expect(
      fx.store.withTransaction(async (tx) => {
        await fx.store.append(stream, 'no_stream', events(1), { tx });
        await fx.store.append(stream, 1, events(1), { tx });
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await fx.store.readStream(stream)).toEqual([]);

    const result = await fx.store.withTransaction(async (tx) => {
      await fx.store.append(stream, 'no_stream', events(1), { tx });
      return fx.store.append(stream, 1, events(1), { tx });
    });
    expect(result.nextVersion).toBe(2);
  });
});

describe('the migration that dropped the streams table', () => {
  it('goes down to the streams table and append function, rebuilt from events, and up again', async () => {
    const local = await createStoreFixture(2);
    try {
      const a = newStream();
      await local.store.append(a, 'no_stream', events(3));
      const client = await local.pool.connect();
      const runner = { query: (sql: string) => client.query(sql) } as unknown as QueryRunner;
      const migration = new AppendWithoutStreamsTable1763900000002();
      try {
        await migration.down(runner);
        const { rows } = await client.query(
          'SELECT stream_id, tenant, version, last_transaction_id::text AS xid FROM streams',
        );
        const last = await client.query(
          'SELECT transaction_id::text AS xid FROM events WHERE stream_id = $1 AND stream_version = 3',
          [a],
        );
        expect(rows).toEqual([{ stream_id: a, tenant: 'acme', version: 3, xid: last.rows[0].xid }]);
        // The old function appends after the rebuilt row.
        const old = await client.query(
          `SELECT next_version FROM gantry_append_to_stream($1, 'acme', 3, ARRAY[gen_random_uuid()],
             ARRAY['JobCancelled'], ARRAY[1], ARRAY['{}'::jsonb], ARRAY['{}'::jsonb], ARRAY[now()])`,
          [a],
        );
        expect(old.rows[0].next_version).toBe(4);
        await migration.up(runner);
      } finally {
        client.release();
      }
      await expect(local.store.append(a, 4, events(1))).resolves.toMatchObject({ nextVersion: 5 });
      await expect(local.store.append(a, 4, events(1))).rejects.toMatchObject({ actualVersion: 5 });
    } finally {
      await local.close();
    }
  });
});

describe('validation', () => {
  const countRows = async () =>
    Number((await fx.pool.query('SELECT count(*) FROM events')).rows[0].count);

  it.each([
    [
      'an unknown type',
      ErrorCodes.UNKNOWN_EVENT_TYPE,
      { ...anEvent().build(), type: 'JobTeleported' },
    ],
    [
      'data not matching the current schema',
      ErrorCodes.VALIDATION_FAILED,
      { ...anEvent().build(), data: { jobId: 'j1' } },
    ],
    ['a bad tenant', ErrorCodes.VALIDATION_FAILED, anEvent().forTenant('Not A Tenant').build()],
    [
      'a bad traceparent',
      ErrorCodes.VALIDATION_FAILED,
      anEvent().withMetadata({ traceparent: 'nope' }).build(),
    ],
    [
      'an unknown metadata field',
      ErrorCodes.VALIDATION_FAILED,
      anEvent().withMetadata({ sneaky: 1 }).build(),
    ],
    [
      'a bad occurredAt',
      ErrorCodes.VALIDATION_FAILED,
      anEvent().withMetadata({ occurredAt: 'yesterday' }).build(),
    ],
    ['a non-uuid id', ErrorCodes.VALIDATION_FAILED, { ...anEvent().build(), id: 'not-a-uuid' }],
  ])('refuses %s and writes nothing', async (_case, code, event) => {
    const before = await countRows();
    const stream = newStream();
    // The valid event first: nothing of a partly valid append may be written.
    await expect(
      fx.store.append(stream, 'no_stream', [anEvent().build(), event]),
    ).rejects.toMatchObject({ code });
    expect(await countRows()).toBe(before);
    expect(
      (await fx.pool.query('SELECT 1 FROM events WHERE stream_id = $1', [stream])).rowCount,
    ).toBe(0);
    // The stream still does not exist: a first append at no_stream succeeds at version 1.
    await expect(fx.store.append(stream, 'no_stream', events(1))).resolves.toMatchObject({
      nextVersion: 1,
    });
  });

  it('refuses a bad stream id, mixed tenants and an empty append', async () => {
    await expect(fx.store.append('Job 1', 'any', events(1))).rejects.toMatchObject({
      code: ErrorCodes.VALIDATION_FAILED,
    });
    await expect(
      fx.store.append(newStream(), 'any', [
        anEvent().build(),
        anEvent().forTenant('globex').build(),
      ]),
    ).rejects.toMatchObject({ code: ErrorCodes.VALIDATION_FAILED });
    await expect(fx.store.append(newStream(), 'any', [])).rejects.toMatchObject({
      code: ErrorCodes.VALIDATION_FAILED,
    });
  });
});

describe('append-only (invariant 1)', () => {
  // Raw SQL on a plain connection, as psql would send it: the database itself refuses.
  let raw: Client;
  let stream: string;
  beforeAll(async () => {
    stream = newStream();
    await fx.store.append(stream, 'no_stream', events(2));
    raw = new Client({ connectionString: fx.db.url });
    await raw.connect();
  });
  afterAll(async () => {
    await raw.end();
  });

  it.each([
    ['UPDATE', () => `UPDATE events SET data = '{}' WHERE stream_id = '${stream}'`],
    ['DELETE', () => `DELETE FROM events WHERE stream_id = '${stream}'`],
    ['TRUNCATE', () => 'TRUNCATE events'],
    ['TRUNCATE ... CASCADE', () => 'TRUNCATE events CASCADE'],
  ])('refuses %s', async (_op, sql) => {
    await expect(raw.query(sql())).rejects.toThrow(/append-only/);
    expect(versionsOf(await fx.store.readStream(stream))).toEqual([1, 2]);
  });
});

describe('upcasting on read', () => {
  it('reads a stored JobSubmitted v1 as v2', async () => {
    const stream = `job-${randomUUID()}`;
    await fx.pool.query(
      `INSERT INTO events (event_id, stream_id, stream_version, tenant, type, schema_version, data, metadata, occurred_at)
       VALUES ($1, $2, 1, 'acme', 'JobSubmitted', 1, $3, $4, '2024-06-01T12:00:00Z')`,
      [
        randomUUID(),
        stream,
        {
          jobId: 'old-1',
          spec: { command: ['true'], nodeCount: 2, resources: { cpu: 1, memoryMb: 1000 } },
          idempotencyKey: null,
        },
        { causationId: null, correlationId: 'c-1' },
      ],
    );

    const [event] = await fx.store.readStream(stream);
    expect(event).toMatchObject({
      type: 'JobSubmitted',
      schemaVersion: 2,
      data: { jobId: 'old-1', spec: { nodes: 2, resources: { cpu: 1, memoryMiB: 954 } } },
      metadata: { tenant: 'acme', streamVersion: 1, occurredAt: '2024-06-01T12:00:00.000Z' },
    });
    // readAll waits for every older transaction on the server to finish, hence eventually.
    const found = await eventually(async () => {
      const all = await fx.store.readAll({ after: null, limit: 10_000 });
      return all.events.find((e) => e.metadata.streamId === stream);
    }, 'the event in readAll');
    expect(found.schemaVersion).toBe(2);
  });
});

describe('readAll ordering (invariant 3)', () => {
  // Each case gets its own database: readAll is global, and other cases' writes would interleave.
  let local: StoreFixture;
  beforeEach(async () => {
    local = await createStoreFixture(5);
  });
  afterEach(async () => {
    await local.close();
  });

  const readEverything = async (after: Checkpoint | null = null) =>
    local.store.readAll({ after, limit: 1_000 });
  // The xmin horizon is server-wide: a transaction of some other database (another test run)
  // can hold readAll back for a moment. That delays events, it never reorders them.
  const readAtLeast = (count: number, after: Checkpoint | null = null) =>
    eventually(async () => {
      const result = await readEverything(after);
      return result.events.length >= count && result;
    }, `${count} events from readAll`);

  it('pages through everything in commit-safe order, continuing from the checkpoint', async () => {
    const a = newStream();
    const b = newStream();
    await local.store.append(a, 'no_stream', events(3));
    await local.store.append(b, 'no_stream', events(2));
    await readAtLeast(5);

    const page1 = await local.store.readAll({ after: null, limit: 2 });
    const page2 = await local.store.readAll({ after: page1.checkpoint, limit: 10 });
    const page3 = await local.store.readAll({ after: page2.checkpoint, limit: 10 });

    expect(
      [...page1.events, ...page2.events].map((e) => [
        e.metadata.streamId,
        e.metadata.streamVersion,
      ]),
    ).toEqual([
      [a, 1],
      [a, 2],
      [a, 3],
      [b, 1],
      [b, 2],
    ]);
    expect(page3).toEqual({ events: [], checkpoint: page2.checkpoint });
  });

  it('orders positions as numbers, not as text (10 after 9)', async () => {
    const stream = newStream();
    await local.store.append(stream, 'no_stream', events(12));
    const { events: read } = await readAtLeast(12);
    expect(versionsOf(read)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(read.map((e) => Number(e.metadata.globalPosition))).toEqual(
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
  });

  it('holds back everything after a transaction still open, then delivers it in transaction order', async () => {
    const late = newStream();
    const early = newStream();
    const tx = await local.pool.connect();
    try {
      await tx.query('BEGIN');
      await tx.query('SELECT pg_current_xact_id()'); // the open transaction takes the older xid...
      await local.store.append(early, 'no_stream', events(1)); // ...a younger one commits first
      await local.store.append(late, 'no_stream', events(1), { tx }); // ...at a higher position

      const whileOpen = await readEverything();
      expect(whileOpen.events).toEqual([]);
      expect(whileOpen.checkpoint).toBeNull();

      await tx.query('COMMIT');
    } finally {
      tx.release();
    }
    const after = await readAtLeast(2);
    // Transaction order, not position order: the older transaction comes first.
    expect(after.events.map((e) => e.metadata.streamId)).toEqual([late, early]);
    expect(BigInt(after.events[0]!.metadata.globalPosition!)).toBeGreaterThan(
      BigInt(after.events[1]!.metadata.globalPosition!),
    );
  });

  it('never passes a late committer: a checkpoint taken while it was open still reaches it', async () => {
    const lowPosition = newStream();
    const highPosition = newStream();
    const tx = await local.pool.connect();
    try {
      await tx.query('BEGIN');
      await local.store.append(lowPosition, 'no_stream', events(1), { tx });
      await local.store.append(highPosition, 'no_stream', events(1));
      const first = await readEverything();
      await tx.query('COMMIT');
      const second = await readAtLeast(2 - first.events.length, first.checkpoint);
      const seen = [...first.events, ...second.events].map((e) => e.metadata.streamId);
      expect(seen.sort()).toEqual([lowPosition, highPosition].sort());
    } finally {
      tx.release();
    }
  });
});

describe('snapshots', () => {
  interface Tally {
    readonly admitted: number;
    readonly cancelled: number;
  }
  const tally = (evolved: EventEnvelope[]) => ({
    initial: (): Tally => ({ admitted: 0, cancelled: 0 }),
    evolve: (state: Tally, event: EventEnvelope): Tally => {
      evolved.push(event);
      return event.type === 'JobCancelled'
        ? { ...state, cancelled: state.cancelled + 1 }
        : { ...state, admitted: state.admitted + 1 };
    },
  });

  it('saves a snapshot after enough events and then folds only what came after it', async () => {
    const stream = newStream();
    await fx.store.append(stream, 'no_stream', [...events(4), anEvent().cancelled().build()]);

    const seen: EventEnvelope[] = [];
    const first = await fx.store.aggregateStream(stream, { ...tally(seen), snapshotEvery: 3 });
    expect(first).toEqual({ state: { admitted: 4, cancelled: 1 }, version: 5, eventsFolded: 5 });
    expect(await fx.store.loadSnapshot(stream)).toEqual({
      streamId: stream,
      version: 5,
      schemaVersion: 1,
      state: { admitted: 4, cancelled: 1 },
    });

    await fx.store.append(stream, 5, [anEvent().build(), anEvent().cancelled().build()]);
    seen.length = 0;
    const second = await fx.store.aggregateStream(stream, { ...tally(seen), snapshotEvery: 3 });
    expect(second).toEqual({ state: { admitted: 5, cancelled: 2 }, version: 7, eventsFolded: 2 });
    expect(versionsOf(seen)).toEqual([6, 7]);
    // Two events are fewer than snapshotEvery: the snapshot stays at 5.
    expect((await fx.store.loadSnapshot(stream))?.version).toBe(5);

    // The same answer as folding from scratch: the snapshot is only a cache.
    const full = await fx.store.aggregateStream(stream, tally([]));
    expect(full.state).toEqual(second.state);
  });

  it('ignores a snapshot of another state schema version and replaces it', async () => {
    const stream = newStream();
    await fx.store.append(stream, 'no_stream', events(3));
    await fx.store.saveSnapshot({
      streamId: stream,
      version: 3,
      schemaVersion: 1,
      state: { admitted: 999, cancelled: 0 },
    });

    const result = await fx.store.aggregateStream(stream, {
      ...tally([]),
      snapshotEvery: 2,
      snapshotSchemaVersion: 2,
    });
    expect(result.state).toEqual({ admitted: 3, cancelled: 0 });
    expect(await fx.store.loadSnapshot(stream)).toMatchObject({
      version: 3,
      schemaVersion: 2,
      state: { admitted: 3 },
    });
  });

  it('never replaces a snapshot with an older one', async () => {
    const stream = newStream();
    await fx.store.saveSnapshot({
      streamId: stream,
      version: 10,
      schemaVersion: 1,
      state: { n: 10 },
    });
    await fx.store.saveSnapshot({
      streamId: stream,
      version: 4,
      schemaVersion: 1,
      state: { n: 4 },
    });
    expect((await fx.store.loadSnapshot<{ n: number }>(stream))?.state).toEqual({ n: 10 });
  });

  it('returns the initial state at version 0 for an empty stream', async () => {
    expect(await fx.store.aggregateStream(newStream(), { ...tally([]), snapshotEvery: 1 })).toEqual(
      {
        state: { admitted: 0, cancelled: 0 },
        version: 0,
        eventsFolded: 0,
      },
    );
  });
});
