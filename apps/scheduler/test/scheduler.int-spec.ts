import { jetstream } from '@nats-io/jetstream';
import { type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { type INestMicroservice } from '@nestjs/common';
import {
  SYSTEM_TENANT,
  streamIdOf,
  type EnrolNodeReply,
  type EventEnvelope,
  type KillAttempt,
  type LeaseOffer,
  type NodeLeaseSet,
  type SubjectCatalogue,
} from '@gantry/contracts';
import { EventPublisher, eventStoreMigrations, type PostgresEventStore } from '@gantry/event-store';
import { messagingMigrations, sendCommand } from '@gantry/messaging';
import {
  projectionMigrations,
  readSchedulerNodes,
  schedulerNodesMigrations,
} from '@gantry/projections';
import {
  aCommandEnvelope,
  createServiceTestBed,
  type ServiceTestBed,
} from '@gantry/service-testing';
// The real controller in-process: its app factory is not a library, and only this test needs it.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startControllerApp } from '../../controller/src/app';
import { startSchedulerApp, type RunningScheduler } from '../src/app';
import { readSchedulerConfig } from '../src/config';
import { SchedulerEngine } from '../src/scheduler.engine';
import { eventually } from '@gantry/testing';

/**
 * The scheduler with the real controller and event publisher, on real Postgres and NATS, and fake
 * agents written here: they enrol, heartbeat by request and collect what is pushed to them.
 */
let bed: ServiceTestBed;
let subjects: SubjectCatalogue;
let store: PostgresEventStore;
let nc: NatsConnection;
let controller: INestMicroservice;
let publisher: EventPublisher;
let scheduler: RunningScheduler;
const agents: FakeAgent[] = [];
const logs: { event: string; fields: Readonly<Record<string, unknown>> }[] = [];

const config = {
  ...readSchedulerConfig({}),
  heartbeatIntervalMs: 200,
  leaseTtlMs: 2_500,
  nodeLostMs: 1_500,
  tickMs: 200,
  // Long: a failed probe must not be retried within a test.
  quarantineProbeMs: 120_000,
  preemptionPools: new Set<string>(),
};

beforeAll(async () => {
  bed = await createServiceTestBed({
    name: 'gantry_scheduler',
    migrations: [
      ...eventStoreMigrations,
      ...messagingMigrations,
      ...projectionMigrations,
      ...schedulerNodesMigrations,
    ],
    poolSize: 8,
  });
  ({ subjects, store, nc } = bed);
  controller = await startControllerApp({
    nats: nc,
    subjects,
    store,
    random: () => 0,
    logger: false,
  });
  publisher = new EventPublisher({
    databaseUrl: bed.db.url,
    store,
    js: jetstream(nc),
    subjects,
    pollIntervalMs: 50,
    leadershipRetryMs: 100,
  });
  publisher.start();
  scheduler = await startSchedulerApp({
    nats: nc,
    subjects,
    store,
    pool: bed.pool,
    databaseUrl: bed.db.url,
    config: { ...config, consumerName: 'scheduler-int' },
    // No backoff before a retry, so the re-lease follows the failure at once.
    random: () => 0,
    log: (event, fields = {}) => logs.push({ event, fields }),
    logger: false,
  });
});

afterAll(async () => {
  for (const agent of agents) agent.stop();
  await scheduler?.close();
  await publisher?.stop();
  await controller?.close();
  await bed?.close();
});

class FakeAgent {
  readonly offers: LeaseOffer[] = [];
  readonly kills: KillAttempt[] = [];
  token = '';
  silent = false;
  /** Report the leases it was given as running (renewing them); off to let them expire. */
  renews = true;
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly subscriptions: Subscription[] = [];

  constructor(
    readonly nodeId: string,
    readonly pool: string,
    readonly cpu = 2,
  ) {}

  async start(): Promise<void> {
    for (const [kind, into] of [
      ['lease', this.offers],
      ['kill', this.kills],
    ] as const) {
      this.subscriptions.push(
        nc.subscribe(subjects.node(this.nodeId, kind), {
          callback: (_err, msg) => {
            (into as unknown[]).push(msg.json());
          },
        }),
      );
    }
    const reply = await sendCommand<EnrolNodeReply>(
      nc,
      subjects,
      'scheduler',
      'enrol-node',
      aCommandEnvelope(
        'EnrolNode',
        {
          nodeId: this.nodeId,
          pools: [this.pool],
          capacity: { cpu: this.cpu, memoryMiB: 4_096 },
          hostname: `${this.nodeId}.local`,
          enrolToken: config.enrolToken,
        },
        { tenant: SYSTEM_TENANT, actor: `agent-${this.nodeId}` },
      ),
    );
    this.token = reply.nodeToken;
    await nc.flush();
    this.timer = setInterval(() => void this.beat(), config.heartbeatIntervalMs);
    await this.beat();
  }

  running: LeaseOffer[] = [];

  async beat(): Promise<void> {
    if (this.silent) return;
    this.sequence += 1;
    try {
      const msg = await nc.request(
        subjects.node(this.nodeId, 'heartbeat'),
        JSON.stringify({
          nodeId: this.nodeId,
          pools: [this.pool],
          capacity: { cpu: this.cpu, memoryMiB: 4_096 },
          hostname: `${this.nodeId}.local`,
          nodeToken: this.token,
          sequence: this.sequence,
          running: this.renews
            ? this.running.map((o) => ({
                tenant: o.tenant,
                jobId: o.jobId,
                attempt: o.attempt,
                leaseEpoch: o.leaseEpoch,
                rank: o.rank,
              }))
            : [],
          sentAt: new Date().toISOString(),
        }),
        { timeout: 2_000 },
      );
      this.running = (msg.json() as NodeLeaseSet).leases;
    } catch {
      // a missed beat; the next one tries again
    }
  }

  offersOf(jobId: string): LeaseOffer[] {
    return this.offers.filter((o) => o.jobId === jobId);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const s of this.subscriptions) s.unsubscribe();
  }
}

const startAgent = async (nodeId: string, pool: string, cpu = 2): Promise<FakeAgent> => {
  const agent = new FakeAgent(`${nodeId}-${Math.random().toString(36).slice(2, 8)}`, pool, cpu);
  agents.push(agent);
  await agent.start();
  return agent;
};

const controllerCommand = <T>(
  verb: string,
  type: string,
  data: Record<string, unknown>,
  tenant = 'acme',
) =>
  sendCommand<T>(
    nc,
    subjects,
    'controller',
    verb,
    aCommandEnvelope(type, data, { tenant, actor: `key-${tenant}-1` }),
  );

/** Submits, admits and queues a job as admission would; returns its id. */
const queueJob = async (spec: Record<string, unknown>, tenant = 'acme'): Promise<string> => {
  const { jobId } = await controllerCommand<{ jobId: string }>(
    'submit',
    'SubmitJob',
    { spec: { command: ['true'], ...spec }, idempotencyKey: null },
    tenant,
  );
  await controllerCommand('admit', 'AdmitJob', { jobId }, tenant);
  await controllerCommand('queue', 'QueueJob', { jobId }, tenant);
  return jobId;
};

const historyOf = async (jobId: string): Promise<EventEnvelope[]> =>
  store.readStream(streamIdOf('job', jobId));
const typesOf = async (jobId: string): Promise<string[]> =>
  (await historyOf(jobId)).map((e) => e.type);

it('leases a 2-node gang to two distinct nodes with ranks 0 and 1, and a job too big waits', async () => {
  const pool = 'gang';
  const [a, b] = [await startAgent('g1', pool), await startAgent('g2', pool)];
  const tooBig = await queueJob({ pool, nodes: 2, resources: { cpu: 3, memoryMiB: 256 } });
  const gang = await queueJob({ pool, nodes: 2, resources: { cpu: 1, memoryMiB: 256 } });

  const offers = await eventually(() => {
    const all = [...a!.offersOf(gang), ...b!.offersOf(gang)];
    return all.length >= 2 ? all : undefined;
  }, 'both ranks offered');
  expect(offers.map((o) => o.rank).sort()).toEqual([0, 1]);
  expect(a!.offersOf(gang)).toHaveLength(1);
  expect(b!.offersOf(gang)).toHaveLength(1);
  const rank0 = offers.find((o) => o.rank === 0)!;
  expect(rank0.worldSize).toBe(2);
  expect(rank0.hosts).toHaveLength(2);
  expect(rank0.coordinator).toMatch(new RegExp(`^${rank0.hosts[0]}:\\d+$`));
  const leased = (await historyOf(gang)).find((e) => e.type === 'JobLeased')!;
  const nodes = (leased.data as { nodes: { nodeId: string; rank: number }[] }).nodes;
  expect(new Set(nodes.map((n) => n.nodeId))).toEqual(new Set([a!.nodeId, b!.nodeId]));

  // The big job was queued first and is still waiting: never leased, never offered in part.
  expect(await typesOf(tooBig)).not.toContain('JobLeased');
  expect([...a!.offersOf(tooBig), ...b!.offersOf(tooBig)]).toEqual([]);

  const rows = await eventually(async () => {
    const read = await readSchedulerNodes(bed.pool, { pool });
    return read.length === 2 && read.every((r) => r.runningLeases === 1) ? read : undefined;
  }, 'scheduler_nodes written');
  expect(rows.map((r) => r.used.cpu)).toEqual([1, 1]);
});

it("shares a pool across tenants: the other tenant's job starts before the first tenant's queue", async () => {
  const pool = 'fair';
  const shape = { pool, resources: { cpu: 1, memoryMiB: 256 } };
  // No node in the pool yet: everything waits, acme's four jobs older than zeta's one.
  const acme: string[] = [];
  for (let i = 0; i < 4; i += 1) acme.push(await queueJob(shape, 'acme'));
  const zeta = await queueJob(shape, 'zeta');
  await eventually(
    () => [...acme, zeta].every((jobId) => scheduler.engine.explanationOf(jobId)),
    'every job known and explained as waiting',
  );
  expect(scheduler.engine.explanationOf(zeta)).toMatchObject({
    outcome: 'waiting',
    waitingFor: { kind: 'never-fits', feasibleNodes: 0 },
  });

  // Room for two: priority then age alone would lease acme's two oldest.
  const agent = await startAgent('f1', pool, 2);
  await eventually(() => agent.offersOf(zeta)[0], "zeta's job leased");
  await eventually(() => agent.offersOf(acme[0]!)[0], "acme's oldest job leased");
  for (const jobId of acme.slice(1)) {
    expect(agent.offersOf(jobId)).toEqual([]);
    expect(await typesOf(jobId)).not.toContain('JobLeased');
  }
  // Still waiting, and the scheduler says why: acme's next job holds the node's reservation.
  const waiting = await eventually(() => {
    const explained = scheduler.engine.explanationOf(acme[1]!);
    return explained?.waitingFor?.kind === 'reservation' ? explained : undefined;
  }, "acme's next job explained as holding the reservation");
  expect(waiting.waitingFor).toMatchObject({ nodes: [agent.nodeId] });
});

it('reports a silent node lost; the attempt fails and the job is leased again on another node', async () => {
  const pool = 'loss';
  const first = await startAgent('l1', pool, 1);
  const job = await queueJob({ pool, resources: { cpu: 1, memoryMiB: 256 } });
  await eventually(() => first.offersOf(job)[0], 'the first lease');
  const second = await startAgent('l2', pool, 1);
  first.silent = true;

  const retried = await eventually(() => second.offersOf(job)[0], 'the lease on the other node');
  expect(retried.leaseEpoch).toBe(2);
  expect(retried.attempt).toBe(2);
  const history = await historyOf(job);
  const failed = history.find((e) => e.type === 'AttemptFailed')!;
  expect(failed.data).toMatchObject({ nodeLost: first.nodeId, leaseEpoch: 1 });
  expect(history.map((e) => e.type)).toContain('JobRetryScheduled');
  const nodeEvents = await store.readStream(streamIdOf('node', first.nodeId));
  expect(nodeEvents.map((e) => e.type)).toEqual(['NodeEnrolled', 'NodeLost']);
});

it('reaps a lease that no heartbeat renews', async () => {
  const agent = await startAgent('r1', 'reap');
  agent.renews = false;
  const job = await queueJob({ pool: 'reap', resources: { cpu: 1, memoryMiB: 256 } });
  await eventually(() => agent.offersOf(job)[0], 'the lease');
  await eventually(async () => (await typesOf(job)).includes('LeaseExpired'), 'the expiry');
  expect(logs.some((l) => l.event === 'lease_expired' && l.fields['jobId'] === job)).toBe(true);
  await eventually(
    () => agent.kills.find((k) => k.jobId === job && k.reason === 'lease-lost'),
    'the kill of the expired lease',
  );
});

it('pushes kills to every node of a leased job on cancel', async () => {
  const pool = 'cancel';
  const [a, b] = [await startAgent('c1', pool), await startAgent('c2', pool)];
  const job = await queueJob({ pool, nodes: 2, resources: { cpu: 1, memoryMiB: 256 } });
  await eventually(() => a!.offersOf(job)[0] && b!.offersOf(job)[0], 'both ranks offered');
  await controllerCommand('cancel', 'CancelJob', { jobId: job, reason: 'test' });
  for (const agent of [a!, b!]) {
    const kill = await eventually(
      () => agent.kills.find((k) => k.jobId === job),
      `the kill on ${agent.nodeId}`,
    );
    expect(kill).toMatchObject({ reason: 'cancelled', leaseEpoch: 1 });
  }
});

it('refuses an enrolment with the wrong token', async () => {
  await expect(
    sendCommand(
      nc,
      subjects,
      'scheduler',
      'enrol-node',
      aCommandEnvelope(
        'EnrolNode',
        {
          nodeId: 'intruder',
          pools: ['cpu'],
          capacity: { cpu: 1, memoryMiB: 64 },
          hostname: 'x',
          enrolToken: 'guess',
        },
        { tenant: SYSTEM_TENANT, actor: 'agent-x' },
      ),
    ),
  ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  expect(await store.readStream(streamIdOf('node', 'intruder'))).toEqual([]);
});

it('finds a job the event feed never brought it by comparing with the projection', async () => {
  // A second engine on the same store, never started: it hears no events at all.
  const deaf = new SchedulerEngine({
    config: { ...config, consumerName: 'scheduler-deaf' },
    subjects,
    store,
    pool: bed.pool,
    databaseUrl: bed.db.url,
    clock: () => new Date(),
    random: () => 0,
    log: () => undefined,
  });
  const jobId = await queueJob({ pool: 'nowhere', resources: { cpu: 1, memoryMiB: 64 } });
  const version = (await historyOf(jobId)).length;
  // The projector is not running here: the row it would write.
  await bed.pool.query(
    `INSERT INTO job_summary (tenant, job_id, state, nodes, pool, priority, submitted_at, updated_at, last_version)
     VALUES ('acme', $1, 'QUEUED', 1, 'nowhere', 100, now(), now(), $2)`,
    [jobId, version],
  );
  expect(await deaf.resync()).toBe(1);
  // Now it holds the job at the projection's version: nothing more to read.
  expect(await deaf.resync()).toBe(0);
});

describe('C9: a quarantined node and its probe', () => {
  /** Given: the scheduler quarantined the node earlier, and its probe is due now. */
  const quarantine = async (nodeId: string): Promise<void> => {
    await store.append(streamIdOf('node', nodeId), 'any', [
      {
        type: 'NodeQuarantined',
        data: {
          nodeId,
          consecutiveFailures: 3,
          failedJobs: ['earlier-1', 'earlier-2', 'earlier-3'],
          quarantinedAt: new Date().toISOString(),
          probeAfter: new Date().toISOString(),
        },
        metadata: {
          tenant: SYSTEM_TENANT,
          causationId: null,
          correlationId: `quarantine-${nodeId}`,
          actor: 'scheduler',
        },
      },
    ]);
  };

  /** The job's rank runs and exits with `exitCode`, as the agent would report it. */
  const runToExit = async (offer: LeaseOffer, exitCode: number): Promise<void> => {
    const { jobId, leaseEpoch } = offer;
    await controllerCommand('start-attempt', 'StartAttempt', { jobId, leaseEpoch });
    await controllerCommand('report-attempt-exit', 'ReportAttemptExit', {
      jobId,
      leaseEpoch,
      rank: 0,
      exitCode,
      retryJitter: 0,
    });
  };

  const standingEvents = async (nodeId: string) =>
    (await store.readStream(streamIdOf('node', nodeId))).filter(
      (e) => e.type !== 'NodeEnrolled' && e.type !== 'NodeLost',
    );

  it.each([
    ['passes: the quarantine is lifted and the waiting job starts', 0, 'NodeQuarantineCleared'],
    ['fails: the node stays quarantined and the waiting job keeps waiting', 1, 'NodeProbeFailed'],
  ])('takes one probe at a time; when the probe %s', async (_name, exitCode, verdict) => {
    const pool = `probe${exitCode}`;
    const agent = await startAgent('q', pool, 2);
    await quarantine(agent.nodeId);
    const jobs = [
      await queueJob({ pool, resources: { cpu: 1, memoryMiB: 256 }, retry: { maxAttempts: 1 } }),
      await queueJob({ pool, resources: { cpu: 1, memoryMiB: 256 } }),
    ];
    const probe = await eventually(() => agent.offers[0], 'the probe lease');
    const waiting = jobs.find((j) => j !== probe.jobId)!;
    // The node had room for both: only the probe rule keeps the second off it.
    const why = await eventually(() => {
      const answer = scheduler.engine.explain(waiting, 'acme');
      return answer.retained ? answer : undefined;
    }, 'the waiting job explained');
    expect(why).toMatchObject({
      outcome: 'waiting',
      filtered: [{ nodeId: agent.nodeId, filter: 'health', standing: 'quarantined' }],
    });
    expect(agent.offersOf(waiting)).toEqual([]);

    await runToExit(probe, exitCode);
    const events = await eventually(async () => {
      const found = await standingEvents(agent.nodeId);
      return found.some((e) => e.type === verdict) ? found : undefined;
    }, verdict);
    const outcome = events.find((e) => e.type === verdict)!;
    expect(outcome.metadata.actor).toBe('scheduler');
    if (exitCode === 0) {
      expect(outcome.data).toMatchObject({ by: 'probe', probeJobId: probe.jobId });
      await eventually(() => agent.offersOf(waiting)[0], 'the waiting job leased after the probe');
    } else {
      expect(outcome.data).toMatchObject({ jobId: probe.jobId });
      // Its next probe is a probe delay away: the job still waits, kept off by the quarantine.
      const again = scheduler.engine.explain(waiting, 'acme');
      expect(again).toMatchObject({
        filtered: [{ nodeId: agent.nodeId, filter: 'health', standing: 'quarantined' }],
      });
      expect(agent.offersOf(waiting)).toEqual([]);
    }
  });
});
