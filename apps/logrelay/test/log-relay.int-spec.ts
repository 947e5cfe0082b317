import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { createSubjects, type LogChunk } from '@gantry/contracts';
import { runMigrations } from '@gantry/event-store';
import {
  connectNats,
  DeadLetterSchema,
  deadLetterPayload,
  deleteStreams,
  ensureStreams,
  streamNames,
} from '@gantry/messaging';
import { logMigrations } from '@gantry/projections';
import {
  createTestDatabase,
  eventually,
  resolveServerUrls,
  type TestDatabase,
  uniqueName,
} from '@gantry/testing';
import { LOG_RELAY_CONSUMER, LogRelay } from '../src/log-relay';

/** The relay against a real nats-server and Postgres: what goes in is what is stored, once. */
const subjects = createSubjects(uniqueName('t'));
let db: TestDatabase;
let pool: Pool;
let nc: NatsConnection;
let jsm: JetStreamManager;
let relay: LogRelay;

const aChunk = (
  jobId: string,
  rank: number,
  seq: number,
  overrides: Partial<LogChunk> = {},
): LogChunk => ({
  tenant: 'acme',
  jobId,
  attempt: 1,
  rank,
  leaseEpoch: 1,
  seq,
  stream: 'stdout',
  data: `rank ${rank} line ${seq}\n`,
  at: new Date(Date.UTC(2026, 10, 23, 10, 0, 0, seq)).toISOString(),
  eof: false,
  ...overrides,
});

const publish = async (chunk: LogChunk, subject?: string): Promise<void> => {
  // No msgID: the duplicates must reach the relay, as a redelivery after the dedupe window would.
  await jetstream(nc).publish(
    subject ?? subjects.log(chunk.tenant, chunk.jobId, chunk.attempt, chunk.rank),
    JSON.stringify(chunk),
  );
};

const storedRows = async (jobId: string) =>
  (
    await pool.query<{
      rank: number;
      seq: number;
      data: string;
      eof: boolean;
      exit_code: number | null;
    }>(
      `SELECT rank, seq, data, eof, exit_code FROM log_chunks
       WHERE tenant = 'acme' AND job_id = $1 ORDER BY rank, seq`,
      [jobId],
    )
  ).rows;

beforeAll(async () => {
  db = await createTestDatabase('gantry_logrelay');
  await runMigrations(db.url, logMigrations);
  pool = new Pool({ connectionString: db.url, max: 4 });
  nc = await connectNats(resolveServerUrls().natsUrl, 'logrelay-int');
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, subjects);
  relay = new LogRelay({ nc, subjects, pool, maxBatch: 50 });
  await relay.start();
}, 60_000);

afterAll(async () => {
  await relay?.close();
  await deleteStreams(jsm, subjects).catch(() => undefined);
  await pool?.end();
  await nc?.drain();
  await db?.drop();
});

describe('the log relay', () => {
  it('stores chunks published out of order and duplicated exactly once each, dense per rank', async () => {
    const jobId = uniqueName('job');
    const chunks = [0, 1].flatMap((rank) =>
      Array.from({ length: 120 }, (_, seq) =>
        aChunk(jobId, rank, seq, seq === 119 ? { eof: true, exitCode: rank, data: '' } : {}),
      ),
    );
    // Reversed, then every third chunk again: out of order and duplicated.
    const sent = [...chunks].reverse();
    sent.push(...chunks.filter((_, i) => i % 3 === 0));
    // A redelivered chunk whose data differs must not overwrite the first write.
    sent.push({ ...chunks[5]!, data: 'overwritten?\n' });
    for (const chunk of sent) await publish(chunk);

    const rows = await eventually(async () => {
      const stored = await storedRows(jobId);
      return stored.length === chunks.length ? stored : undefined;
    }, 'every chunk to be stored');
    expect(rows).toEqual(
      chunks.map((c) => ({
        rank: c.rank,
        seq: c.seq,
        data: c.data,
        eof: c.eof,
        exit_code: c.exitCode ?? null,
      })),
    );
    // Everything acked: nothing left for the consumer to deliver or redeliver.
    await eventually(async () => {
      const info = await jsm.consumers.info(
        streamNames(subjects).logs,
        LOG_RELAY_CONSUMER.durableName,
      );
      return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
    }, 'the consumer to be drained');
    expect(await storedRows(jobId)).toHaveLength(chunks.length);
  });

  it('wakes the job followers once a chunk is committed', async () => {
    const jobId = uniqueName('job');
    const woken = new Promise<number>((resolve) => {
      const sub = nc.subscribe(subjects.logCommitted('acme', jobId), {
        callback: () => {
          sub.unsubscribe();
          void storedRows(jobId).then((rows) => resolve(rows.length));
        },
      });
    });
    await nc.flush();
    await publish(aChunk(jobId, 0, 0));
    // When the wake-up arrives, the chunk is already readable.
    expect(await woken).toBe(1);
  });

  it('dead-letters a malformed message and a chunk on a foreign subject, and stores neither', async () => {
    const jobId = uniqueName('job');
    const dlqSubject = subjects.deadLetter(LOG_RELAY_CONSUMER.durableName);
    await jetstream(nc).publish(subjects.log('acme', jobId, 1, 0), 'not json');
    await publish(aChunk(jobId, 0, 0, { tenant: 'globex' }), subjects.log('acme', jobId, 1, 0));
    await publish(aChunk(jobId, 0, 1));

    await eventually(
      async () => ((await storedRows(jobId)).length === 1 ? true : undefined),
      'the good chunk',
    );
    const deadLetters = await eventually(async () => {
      const info = await jsm.streams.info(streamNames(subjects).deadLetters, {
        subjects_filter: dlqSubject,
      });
      return (info.state.subjects?.[dlqSubject] ?? 0) >= 2 ? info : undefined;
    }, 'two dead letters');
    expect(deadLetters.state.subjects?.[dlqSubject]).toBe(2);
    const first = DeadLetterSchema.parse(
      (await jsm.streams.getMessage(streamNames(subjects).deadLetters, {
        last_by_subj: dlqSubject,
      }))!.json(),
    );
    expect(first.consumer).toBe('logrelay');
    expect(deadLetterPayload(first).toString()).toContain('globex');
    const { rows } = await pool.query("SELECT 1 FROM log_chunks WHERE tenant = 'globex'");
    expect(rows).toHaveLength(0);
  });
});
