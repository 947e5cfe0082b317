import { randomUUID } from 'node:crypto';
import { eventRegistry } from '@gantry/contracts';
import {
  eventStoreMigrations,
  PostgresEventStore,
  runMigrations,
  type NewEvent,
} from '@gantry/event-store';
import { createTestDatabase } from '@gantry/testing';
import { Pool } from 'pg';

/**
 * Appends per second through the store against a raw INSERT + COMMIT of the same rows into a
 * table of the same shape: same columns, defaults and indexes, but no triggers, no read of the
 * stream's last event, no validation. Each writer appends one event at a time to its own stream.
 *
 * Two baselines: an autocommitted INSERT (insert and commit in one round trip: the cheapest
 * durable write there is, and the one the ratio is taken against) and an explicit
 * BEGIN / INSERT / COMMIT (what an application transaction around one insert costs).
 * Usage: node tools/run.js bench/event-store/main.ts [seconds per path]
 */
const SECONDS = Number(process.argv[2] ?? 4);
const WRITER_COUNTS = [1, 8];

const anEvent = (jobId: string): NewEvent => ({
  type: 'JobAdmitted',
  data: { jobId, admittedAt: new Date().toISOString() },
  metadata: { tenant: 'acme', causationId: null, correlationId: randomUUID() },
});

const RAW_INSERT = `INSERT INTO raw_events (event_id, stream_id, stream_version, tenant, type, schema_version, data, metadata, occurred_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`;

type Writer = (writer: number, iteration: number) => Promise<void>;

/** Writers run concurrently, each one append at a time; returns how many appends were made. */
const runFor = async (
  seconds: number,
  writers: number,
  write: Writer,
  next: number[],
): Promise<number> => {
  const deadline = performance.now() + seconds * 1_000;
  const counts = await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      let n = 0;
      while (performance.now() < deadline) {
        await write(w, next[w]!);
        next[w]! += 1;
        n += 1;
      }
      return n;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
};

/**
 * The two paths alternate in short rounds rather than running one after the other, so that
 * whatever else the machine is doing (a shared CI box, other test runs) weighs on both alike.
 */
const ROUND_SECONDS = 0.5;
const compare = async (
  seconds: number,
  writers: number,
  paths: readonly Writer[],
): Promise<number[]> => {
  const next = paths.map(() => Array<number>(writers).fill(0));
  const counts = paths.map(() => 0);
  const rounds = Math.max(1, Math.round(seconds / ROUND_SECONDS));
  for (let round = 0; round < rounds; round += 1) {
    for (const [i, path] of paths.entries())
      counts[i]! += await runFor(ROUND_SECONDS, writers, path, next[i]!);
  }
  return counts.map((count) => count / (rounds * ROUND_SECONDS));
};

/** The same writer on streams of its own, so warm-up appends do not collide with measured ones. */
const warm =
  (write: Writer): Writer =>
  (w, n) =>
    write(w + 1_000, n);

const main = async (): Promise<void> => {
  const db = await createTestDatabase('gantry_bench_es');
  const pools: Pool[] = [];
  try {
    await runMigrations(db.url, eventStoreMigrations);
    const setup = new Pool({ connectionString: db.url, max: 1 });
    setup.on('error', () => undefined);
    pools.push(setup);
    await setup.query(
      'CREATE TABLE raw_events (LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES)',
    );

    const rows: string[] = [];
    for (const writers of WRITER_COUNTS) {
      const pool = new Pool({ connectionString: db.url, max: writers });
      // pool.end() resolves before its sockets close; the FORCE drop at the end may still hit one.
      pool.on('error', () => undefined);
      pools.push(pool);
      const store = new PostgresEventStore(pool, eventRegistry);
      const run = randomUUID().slice(0, 8);

      const viaStore: Writer = async (w, n) => {
        await store.append(`job-s${run}w${w}`, n === 0 ? 'no_stream' : n, [anEvent(`j${w}`)]);
      };
      const rawParams = (w: number, n: number, tag: string): unknown[] => {
        const e = anEvent(`j${w}`);
        return [
          randomUUID(),
          `job-${tag}${run}w${w}`,
          n + 1,
          e.metadata.tenant,
          e.type,
          1,
          JSON.stringify(e.data),
          JSON.stringify({ causationId: null, correlationId: e.metadata.correlationId }),
          new Date().toISOString(),
        ];
      };
      const raw: Writer = async (w, n) => {
        await pool.query(RAW_INSERT, rawParams(w, n, 'r'));
      };
      const rawInTransaction: Writer = async (w, n) => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query(RAW_INSERT, rawParams(w, n, 't'));
          await client.query('COMMIT');
        } finally {
          client.release();
        }
      };
      const paths = [viaStore, raw, rawInTransaction];
      // Warm every path (plans, connections, the validation code) before measuring.
      await compare(ROUND_SECONDS * 2, writers, paths.map(warm));
      const [storeRate, rawRate, txRate] = (await compare(SECONDS, writers, paths)) as [
        number,
        number,
        number,
      ];
      rows.push(
        [
          String(writers).padStart(7),
          storeRate.toFixed(0).padStart(15),
          rawRate.toFixed(0).padStart(20),
          (storeRate / rawRate).toFixed(2).padStart(5),
          txRate.toFixed(0).padStart(21),
          (storeRate / txRate).toFixed(2).padStart(5),
        ].join(' | '),
      );
    }
    console.log(
      `event store vs raw INSERT + COMMIT: ${SECONDS} s per path, interleaved; one event per append`,
    );
    console.log(
      'writers | store appends/s | autocommit INSERT/s | ratio | BEGIN/INSERT/COMMIT/s | ratio',
    );
    for (const row of rows) console.log(row);
  } finally {
    for (const pool of pools) await pool.end();
    await db.drop();
  }
};

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
