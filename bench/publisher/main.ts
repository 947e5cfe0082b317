import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createSubjects, eventRegistry, type EventEnvelope } from '@gantry/contracts';
import { eventStoreMigrations, PostgresEventStore, runMigrations } from '@gantry/event-store';
import { connectNats, deleteStreams, ensureStreams, streamNames } from '@gantry/messaging';
import { createTestDatabase, resolveServerUrls, uniqueName, WORKSPACE_ROOT } from '@gantry/testing';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Pool } from 'pg';

/**
 * Commit-to-consumer latency through the real publisher process: events appended at a paced
 * rate, each in its own transaction; the time an append returns (committed) is compared with the
 * time an ordered JetStream consumer receives the event.
 * Usage: node tools/run.js bench/publisher/main.ts [events/s] [seconds]
 */
const RATE = Number(process.argv[2] ?? 1_000);
const SECONDS = Number(process.argv[3] ?? 10);
const STREAMS = 50;
const TICK_MS = 10;

const now = (): number => performance.timeOrigin + performance.now();

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

const main = async (): Promise<void> => {
  const db = await createTestDatabase('gantry_bench_pub');
  const { natsUrl } = resolveServerUrls();
  const subjects = createSubjects(uniqueName('bench'));
  const nc = await connectNats(natsUrl, 'bench-publisher');
  const jsm = await jetstreamManager(nc);
  const pool = new Pool({ connectionString: db.url, max: 8 });
  // pool.end() resolves before its sockets close; the FORCE drop at the end may still hit one.
  pool.on('error', () => undefined);
  const publisher = spawn(process.execPath, ['tools/run.js', 'apps/event-publisher/src/main.ts'], {
    cwd: WORKSPACE_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      NATS_URL: natsUrl,
      GANTRY_NAMESPACE: subjects.namespace,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await runMigrations(db.url, eventStoreMigrations);
    await ensureStreams(jsm, subjects);
    await new Promise<void>((resolve, reject) => {
      let output = '';
      publisher.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('"event":"leader"')) resolve();
      });
      publisher.once('exit', (code) =>
        reject(new Error(`publisher exited with ${code}: ${output}`)),
      );
    });

    const store = new PostgresEventStore(pool, eventRegistry);
    const committedAt = new Map<string, number>();
    const receivedAt = new Map<string, number>();

    const consumer = await jetstream(nc).consumers.get(streamNames(subjects).events);
    const messages = await consumer.consume();
    const total = RATE * SECONDS;
    const consuming = (async () => {
      for await (const msg of messages) {
        receivedAt.set(msg.json<EventEnvelope>().id, now());
        if (receivedAt.size >= total) break;
      }
    })();

    // Each stream appends one event at a time (its own expected version); streams run side by side.
    const streams = Array.from({ length: STREAMS }, () => ({
      id: `job-${randomUUID()}`,
      version: 0,
      tail: Promise.resolve(),
    }));
    const appendOne = (slot: (typeof streams)[number]): void => {
      slot.tail = slot.tail.then(async () => {
        const result = await store.append(
          slot.id,
          slot.version === 0 ? 'no_stream' : slot.version,
          [
            {
              type: 'JobAdmitted',
              data: { jobId: slot.id.slice(4), admittedAt: new Date().toISOString() },
              metadata: { tenant: 'acme', causationId: null, correlationId: randomUUID() },
            },
          ],
        );
        committedAt.set(result.events[0]!.id, now());
        slot.version = result.nextVersion;
      });
    };

    const started = now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((now() - started) / 1_000) * RATE));
      for (; sent < due; sent += 1) appendOne(streams[sent % STREAMS]!);
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
    await Promise.all(streams.map((s) => s.tail));
    const appendSeconds = (now() - started) / 1_000;
    const timeout = setTimeout(() => void messages.close(), 30_000);
    await consuming;
    clearTimeout(timeout);
    await messages.close();

    const latencies = [...committedAt].flatMap(([id, committed]) => {
      const received = receivedAt.get(id);
      return received === undefined ? [] : [received - committed];
    });
    latencies.sort((a, b) => a - b);
    const f = (ms: number) => `${ms.toFixed(1)} ms`;
    console.log(
      `publisher commit-to-consumer latency, ${total} events at ${RATE}/s (achieved ${(total / appendSeconds).toFixed(0)}/s)`,
    );
    console.log(`received ${latencies.length}/${committedAt.size}`);
    console.log(
      `p50 ${f(percentile(latencies, 50))}  p90 ${f(percentile(latencies, 90))}  p99 ${f(percentile(latencies, 99))}  max ${f(latencies[latencies.length - 1] ?? NaN)}`,
    );
  } finally {
    publisher.kill('SIGTERM');
    await new Promise((r) => (publisher.exitCode === null ? publisher.once('exit', r) : r(null)));
    await deleteStreams(jsm, subjects);
    await nc.drain();
    await pool.end();
    await db.drop();
  }
};

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
