import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  createSubjects,
  eventRegistry,
  type EventEnvelope,
  type SubjectCatalogue,
} from '@gantry/contracts';
import { eventStoreMigrations, PostgresEventStore, runMigrations } from '@gantry/event-store';
import { connectNats, deleteStreams, ensureStreams, streamNames } from '@gantry/messaging';
import { createTestDatabase, resolveServerUrls, uniqueName, WORKSPACE_ROOT } from '@gantry/testing';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';

/**
 * Commit-to-consumer latency through the real publisher process: events appended at a paced
 * rate, each in its own transaction; the time an append returns (committed) is compared with the
 * time an ordered JetStream consumer receives the event.
 * A bare JetStream publish-to-consume at the same pace runs after it as the baseline.
 * Usage: node tools/run.js bench/publisher/main.ts [events/s] [seconds]
 */
const RATE = Number(process.argv[2] ?? 1_000);
const SECONDS = Number(process.argv[3] ?? 10);
const STREAMS = 50;
const TICK_MS = 10;

const now = (): number => performance.timeOrigin + performance.now();

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

const f = (ms: number): string => `${ms.toFixed(1)} ms`;

/** Calls `fire(i)` for i in [0, total) at RATE per second; returns the seconds it took. */
const paced = async (total: number, fire: (i: number) => void): Promise<number> => {
  const started = now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - started) / 1_000) * RATE));
    for (; sent < due; sent += 1) fire(sent);
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  return (now() - started) / 1_000;
};

/**
 * The baseline, in the same run: the same pace and payload size published straight to JetStream
 * (with a dedupe id, as the publisher does) and consumed the same way; no store, no publisher.
 */
const bareJetStreamLatencies = async (
  nc: NatsConnection,
  subjects: SubjectCatalogue,
  total: number,
): Promise<number[]> => {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(streamNames(subjects).events, {
    deliver_policy: DeliverPolicy.New,
  });
  const messages = await consumer.consume();
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const consuming = (async () => {
    for await (const msg of messages) {
      const sent = sentAt.get(msg.headers?.get('Nats-Msg-Id') ?? '');
      if (sent !== undefined) latencies.push(now() - sent);
      if (latencies.length >= total) break;
    }
  })();
  const payload = JSON.stringify({
    id: randomUUID(),
    type: 'JobAdmitted',
    data: { jobId: 'x'.repeat(36) },
    metadata: {},
  });
  const publishes: Promise<unknown>[] = [];
  await paced(total, (i) => {
    const id = randomUUID();
    sentAt.set(id, now());
    publishes.push(
      js.publish(subjects.event('acme', `job-bare${i % STREAMS}`, 'JobAdmitted'), payload, {
        msgID: id,
      }),
    );
  });
  await Promise.all(publishes);
  const timeout = setTimeout(() => void messages.close(), 30_000);
  await consuming;
  clearTimeout(timeout);
  await messages.close();
  return latencies.sort((a, b) => a - b);
};

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

    const appendSeconds = await paced(total, (i) => appendOne(streams[i % STREAMS]!));
    await Promise.all(streams.map((s) => s.tail));
    const timeout = setTimeout(() => void messages.close(), 30_000);
    await consuming;
    clearTimeout(timeout);
    await messages.close();

    const latencies = [...committedAt].flatMap(([id, committed]) => {
      const received = receivedAt.get(id);
      return received === undefined ? [] : [received - committed];
    });
    latencies.sort((a, b) => a - b);
    console.log(
      `publisher commit-to-consumer latency, ${total} events at ${RATE}/s (achieved ${(total / appendSeconds).toFixed(0)}/s)`,
    );
    console.log(`received ${latencies.length}/${committedAt.size}`);
    const baseline = await bareJetStreamLatencies(nc, subjects, total);
    const row = (name: string, l: readonly number[]) =>
      `${name.padEnd(34)} p50 ${f(percentile(l, 50))}  p90 ${f(percentile(l, 90))}  p99 ${f(percentile(l, 99))}  max ${f(l[l.length - 1] ?? NaN)}`;
    console.log(row('store -> publisher -> consumer', latencies));
    console.log(row('baseline: bare JetStream publish', baseline));
    console.log(
      `added by the store and publisher: p50 +${f(percentile(latencies, 50) - percentile(baseline, 50))}, p99 +${f(percentile(latencies, 99) - percentile(baseline, 99))}`,
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
