import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client, Pool } from 'pg';
import { jetstream, jetstreamManager, DeliverPolicy } from '@nats-io/jetstream';
import { ensureServers, formatEnsureReport } from '@gantry/bootstrap';
import { createSubjects, eventRegistry, streamIdOf, type EventEnvelope } from '@gantry/contracts';
import {
  EventPublisher,
  eventStoreMigrations,
  PostgresEventStore,
  runMigrations,
} from '@gantry/event-store';
import { connectNats, ensureStreams, messagingMigrations, streamNames } from '@gantry/messaging';
import {
  JOB_SUMMARY_TABLE,
  jobSummaryProjection,
  PostgresProjectionSink,
  ProjectionRunner,
  projectionMigrations,
  rebuildProjection,
} from '@gantry/projections';

/**
 * `npm start`: the event-store demo, until the platform's services exist (issue 2). It brings up
 * Postgres and NATS (reusing or starting them), migrates, starts the publisher and the live
 * job-summary projection, records three jobs' histories, follows their events on the tenant's
 * subject as an internal team would, then drops and rebuilds the projection from the store and
 * checks it comes out identical.
 */
const USAGE = `usage: npm start [-- --keep-running] [--database NAME] [--namespace NAME]`;
const say = (line: string): void => console.log(line);

const ensureDatabase = async (serverUrl: string, name: string): Promise<string> => {
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

const tenant = 'demo';
const actor = 'demo:npm-start';

/** Three small histories that exercise the first job events: admitted, rejected, cancelled. */
const histories = (runId: string) => {
  const spec = (name: string, nodes: number) => ({
    name,
    command: ['python', 'train.py'],
    nodes,
    resources: { cpu: 2, memoryMiB: 2048 },
  });
  const admittedAt = () => new Date().toISOString();
  const job = (suffix: string) => `${runId}-${suffix}`;
  return [
    {
      jobId: job('train'),
      events: [
        {
          type: 'JobSubmitted',
          data: { jobId: job('train'), spec: spec('train', 2), idempotencyKey: null },
        },
        { type: 'JobAdmitted', data: { jobId: job('train'), admittedAt: admittedAt() } },
      ],
    },
    {
      jobId: job('huge'),
      events: [
        {
          type: 'JobSubmitted',
          data: { jobId: job('huge'), spec: spec('huge', 64), idempotencyKey: null },
        },
        {
          type: 'JobRejected',
          data: {
            jobId: job('huge'),
            code: 'QUOTA_EXCEEDED',
            reason: 'cores: usage 0 + request 128 would reach 200% of the quota of 64',
            details: { dimension: 'cores', usage: 0, request: 128, limit: 64 },
          },
        },
      ],
    },
    {
      jobId: job('oops'),
      events: [
        {
          type: 'JobSubmitted',
          data: { jobId: job('oops'), spec: spec('oops', 1), idempotencyKey: 'oops-1' },
        },
        { type: 'JobAdmitted', data: { jobId: job('oops'), admittedAt: admittedAt() } },
        {
          type: 'JobCancelled',
          data: { jobId: job('oops'), reason: 'submitted by mistake', cancelledBy: actor },
        },
      ],
    },
  ];
};

const waitFor = async (
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

const main = async (): Promise<void> => {
  const { values } = parseArgs({
    options: {
      'keep-running': { type: 'boolean', default: false },
      database: { type: 'string', default: 'gantry' },
      namespace: { type: 'string', default: 'gantry' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return say(USAGE);

  const servers = await ensureServers({ log: say });
  formatEnsureReport(servers).forEach(say);
  const databaseUrl = await ensureDatabase(servers.postgres.url, values.database);
  const applied = await runMigrations(databaseUrl, [
    ...eventStoreMigrations,
    ...messagingMigrations,
    ...projectionMigrations,
  ]);
  say(`[demo] database ${values.database}: ${applied.length} migration(s) applied`);

  const subjects = createSubjects(values.namespace);
  const nc = await connectNats(servers.nats.url, 'gantry-demo');
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await ensureStreams(jsm, subjects);

  const pool = new Pool({ connectionString: databaseUrl, max: 4 });
  const store = new PostgresEventStore(pool, eventRegistry);
  const publisher = new EventPublisher({ databaseUrl, store, js, subjects, name: 'demo' });
  publisher.start();
  const sink = new PostgresProjectionSink(pool, jobSummaryProjection, store);
  const runner = new ProjectionRunner({
    js,
    jsm,
    subjects,
    sink,
    consumerName: 'demo_job_summary',
  });
  await runner.start();

  // Follow the tenant's events the way an internal team would: gantry.evt.demo.>
  const seen = new Map<string, number>();
  const follower = await js.consumers.get(streamNames(subjects).events, {
    filter_subjects: subjects.eventsOfTenant(tenant),
    deliver_policy: DeliverPolicy.New,
  });
  const messages = await follower.consume();
  void (async () => {
    for await (const msg of messages) {
      const event = eventRegistry.parseEvent(msg.json()) as EventEnvelope;
      seen.set(event.id, Date.now());
      say(`[bus]  ${msg.subject}  v${event.metadata.streamVersion}`);
    }
  })();

  const runId = randomUUID().slice(0, 8);
  const correlationId = `demo-${runId}`;
  const appendedIds: string[] = [];
  for (const history of histories(runId)) {
    const streamId = streamIdOf('job', history.jobId);
    const result = await store.append(
      streamId,
      'no_stream',
      history.events.map((e) => ({
        ...e,
        metadata: { tenant, causationId: null, correlationId, actor },
      })),
    );
    appendedIds.push(...result.events.map((e) => e.id));
    say(
      `[store] ${streamId}: ${history.events.map((e) => e.type).join(' -> ')} (v1..v${result.nextVersion})`,
    );
  }

  await waitFor('every event on the bus', async () => appendedIds.every((id) => seen.has(id)));
  const projected = async () =>
    (
      await pool.query(
        `SELECT job_id, state, nodes, reason_code, last_version FROM ${JOB_SUMMARY_TABLE.name} WHERE tenant = $1 AND job_id LIKE $2 ORDER BY job_id`,
        [tenant, `${runId}-%`],
      )
    ).rows;
  await waitFor('the projection', async () => {
    const rows = await projected();
    return rows.length === 3 && rows.every((r) => r.state !== 'PENDING');
  });
  const live = await projected();
  say('[projection] job_summary, built live from JetStream:');
  console.table(live);

  await runner.stop();
  const rebuilt = await rebuildProjection(store, sink);
  const again = await projected();
  const identical = JSON.stringify(again) === JSON.stringify(live);
  say(
    `[projection] dropped and rebuilt from the store (${rebuilt.eventsRead} events): ${identical ? 'identical' : 'DIFFERENT'}`,
  );

  if (values['keep-running']) {
    say('[demo] publisher running; Ctrl-C to stop');
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
  messages.stop();
  await publisher.stop();
  await nc.drain();
  await pool.end();
  if (!identical) process.exitCode = 1;
};

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
