import { randomUUID } from 'node:crypto';
import { type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { Client, type Pool } from 'pg';
import { type z } from 'zod';
import {
  ClearNode,
  CordonNode,
  DrainNode,
  EnrolNodeRequestSchema,
  ErrorCodes,
  EstimateStart,
  ExplainJob,
  UncordonNode,
  commandRegistry,
  GantryError,
  NODE_SUBJECT_KINDS,
  NodeHeartbeatSchema,
  SYSTEM_TENANT,
  isGantryError,
  streamIdOf,
  validationError,
  type CommandEnvelope,
  type EnrolNodeReply,
  type EventEnvelope,
  type JobExplanation,
  type NodeStandingReply,
  type StartEstimatesReply,
  type KillAttempt,
  type LeaseOffer,
  type NodeLeaseSet,
  type SubjectCatalogue,
} from '@gantry/contracts';
import {
  isProbeDue,
  mayQuarantine,
  type PoolStanding,
  type NodeStanding,
  type NodeStandingCommand,
} from '@gantry/domain';
import { commandContextOf, type PostgresEventStore } from '@gantry/event-store';
import {
  commandEnvelope,
  decodeCommand,
  encodeReply,
  errorReply,
  sendCommand,
  successReply,
} from '@gantry/messaging';
import {
  NO_STANDING_FLAGS,
  isJobEvent,
  pruneStartEstimates,
  recordActualStart,
  upsertSchedulerNodes,
  upsertStartEstimates,
  type JobEventEnvelope,
  type NodeStandingFlags,
} from '@gantry/projections';
import {
  NO_RESOURCES,
  coordinatorPort,
  estimateStarts,
  type Decision,
  type Explanation,
  type PassResult,
  type Resources,
  type SnapshotInput,
} from '@gantry/scheduling';
import { type SchedulerConfig } from './config';
import {
  PlacedExplanations,
  explanationView,
  notRetained,
  type NodeStandingName,
} from './explain-view';
import { NodeStandings, schedulerContext } from './node-standings';
import { foldJobEvent, type JobEffect, type JobView } from './job-view';
import {
  IncrementalPlacement,
  ObservedMap,
  ObservedSet,
  type LivePlacementState,
} from './incremental-placement';
import {
  placementSnapshot,
  runningAllocations,
  usedByNode,
  waitingExplanations,
  type InFlightLease,
  type NodeFacts,
} from './placement-input';
import { isNodeTokenValid, nodeTokenFor, secretsEqual } from './node-token';
import { choosePreemptions } from './preemption-choice';

export type SchedulerLog = (event: string, fields?: Readonly<Record<string, unknown>>) => void;

export interface SchedulerEngineOptions {
  readonly config: SchedulerConfig;
  readonly subjects: SubjectCatalogue;
  readonly store: PostgresEventStore;
  readonly pool: Pool;
  /** The leader lock lives on a session of its own. */
  readonly databaseUrl: string;
  readonly clock: () => Date;
  /** A uniform draw in [0, 1): the retry jitter the controller's backoff takes. */
  readonly random: () => number;
  readonly log: SchedulerLog;
  readonly commandTimeoutMs?: number;
}

interface NodeState {
  readonly nodeId: string;
  pools: readonly string[];
  labels: Readonly<Record<string, string>>;
  hostname: string;
  capacity: Resources;
  status: 'ready' | 'lost';
  lastSeenAt: number;
  /** The last heartbeat sequence of the current agent process; -1 right after an enrolment. */
  lastSequence: number;
}

/** Soft state of a live lease: when each node of the gang last renewed it. */
interface LeaseRenewals {
  readonly epoch: number;
  readonly renewedAt: Map<string, number>;
  /** A report (node lost, expiry) is on its way: do not send another. */
  ending: boolean;
}

const TERMINAL_STATES = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'DEAD_LETTER', 'REJECTED'];

/** Advisory lock class for scheduler leadership ('gsch'); the object id is hashtext('scheduler'). */
const LEADER_LOCK_CLASS = 0x6773_6368;

const encoder = new TextEncoder();
const encode = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * The scheduler's state and loops: nodes from enrolments and heartbeats, jobs from their events,
 * leases from both. One replica places (it holds a Postgres advisory lock); the others follow
 * the same events and heartbeats and stand by.
 */
/** How often the scheduler compares its jobs with the job_summary projection (see resync). */
const RESYNC_MS = 10_000;

/** Waiting jobs whose last-pass explanation is kept: the front of the queue, bounded in memory. */
const EXPLAINED_WAITING_JOBS = 256;

/** How often the leader estimates the queue's start times (C7), and how far the estimate looks. */
const ESTIMATE_EVERY_MS = 5_000;
const ESTIMATE_LIMITS = { maxPasses: 256, horizonMs: 7 * 24 * 3_600_000 };
/** Estimates (and the actual starts beside them) are kept this long for accuracy reports. */
const ESTIMATE_RETENTION_MS = 30 * 24 * 3_600_000;
const ESTIMATE_PRUNE_EVERY_MS = 3_600_000;

/**
 * Placements whose explanation is kept (least recently placed forgotten first), and the node
 * entries (candidates and filtered nodes) they may hold in all: about 200 bytes each.
 */
const EXPLAINED_PLACEMENTS = 2_048;
const EXPLAINED_PLACEMENT_NODE_ENTRIES = 250_000;

const standingFlags = (standing: NodeStanding | undefined): NodeStandingFlags =>
  standing
    ? {
        cordoned: standing.cordoned,
        draining: standing.draining,
        drained: standing.drained,
        quarantined: standing.quarantined,
      }
    : NO_STANDING_FLAGS;

const standingReply = (standing: NodeStanding): NodeStandingReply => ({
  id: standing.nodeId,
  ...standingFlags(standing),
  probeAfter: standing.probeAfter === null ? null : new Date(standing.probeAfter).toISOString(),
});

export class SchedulerEngine {
  /** One placement core kept across passes, told of every change to the four below (C8). */
  private readonly placement: IncrementalPlacement;
  private readonly jobChanged = (jobId: string): void => this.placement.jobChanged(jobId);
  private readonly jobs = new ObservedMap<string, JobView>(this.jobChanged);
  private readonly queued = new ObservedSet<string>(this.jobChanged);
  private readonly leased = new ObservedSet<string>(this.jobChanged);
  private readonly renewals = new Map<string, LeaseRenewals>();
  /** Lease commands awaiting the controller's answer, and what they reserve. */
  private readonly inFlight = new ObservedMap<string, InFlightLease>(this.jobChanged);
  /** Why each explained job was left waiting by the last pass (replaced by every pass). */
  private explanations = new Map<string, Explanation>();
  /** When the last pass ran (epoch ms): the time of the waiting explanations. */
  private lastPassAt = 0;
  private readonly placed = new PlacedExplanations(
    EXPLAINED_PLACEMENTS,
    EXPLAINED_PLACEMENT_NODE_ENTRIES,
  );
  private readonly standings: NodeStandings;
  /** Per job, the node of the first rank that failed in its current attempt: the one to blame. */
  private readonly firstFailure = new Map<string, { attempt: number; nodeId: string }>();
  private readonly drainsInFlight = new Set<string>();
  /** Quarantines decided but not yet folded: the cap must count them, or two could race past it. */
  private readonly quarantining = new Set<string>();
  /**
   * Evictions under way (C6), by preemptor: its pool and each victim's lease epoch. Until every
   * victim's lease has ended (or the preemptor left the queue) its pool gets no new plan.
   */
  private readonly preempting = new Map<
    string,
    { readonly pool: string; readonly victims: Map<string, number> }
  >();
  private leaderRequests: Subscription[] = [];
  private lastEstimateAt = 0;
  private lastEstimatePruneAt = 0;
  private readonly nodes = new Map<string, NodeState>();
  private nc: NatsConnection | undefined;
  private heartbeats: Subscription | undefined;
  private session: Client | undefined;
  private leader = false;
  private ticker: NodeJS.Timeout | undefined;
  private lossWatch: NodeJS.Timeout | undefined;
  private passScheduled = false;
  private nodesDirty = false;
  private lastNodesWrite = 0;
  private lastResync = 0;
  private stopping = false;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly options: SchedulerEngineOptions) {
    this.placement = new IncrementalPlacement({
      seed: options.config.seed,
      onRefused: (jobId, err) =>
        this.options.log('placement_refused', { jobId, error: describe(err) }),
    });
    this.standings = new NodeStandings({
      store: options.store,
      clock: options.clock,
      random: options.random,
      probeDelayMs: options.config.quarantineProbeMs,
      quarantineAfter: options.config.quarantineAfter,
    });
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** The last pass's explanation for a job it left waiting, if the job was among those explained. */
  explanationOf(jobId: string): Explanation | undefined {
    return this.explanations.get(jobId);
  }

  /**
   * The answer to ExplainJob: the last pass's reason for a waiting job, or the kept explanation
   * of its placement. Only the tenant that owns the job hears it; anyone else hears nothing kept.
   */
  explain(jobId: string, tenant: string): JobExplanation {
    const standingOf = (nodeId: string): NodeStandingName | null => {
      if (this.nodes.get(nodeId)?.status === 'lost') return 'lost';
      const standing = this.standings.of(nodeId);
      if (!standing) return 'cordoned';
      if (standing.quarantined) return 'quarantined';
      if (standing.draining) return 'draining';
      return standing.cordoned ? 'cordoned' : null;
    };
    const waiting = this.explanations.get(jobId);
    if (waiting && waiting.tenant === tenant) {
      const view = explanationView(waiting, this.lastPassAt, standingOf);
      // C6: a job whose victims are being evicted says so; it starts once their ranks have stopped.
      const victims = [...(this.preempting.get(jobId)?.victims.keys() ?? [])];
      return victims.length === 0
        ? view
        : { ...view, why: `${view.why}; preempting job(s) ${victims.join(', ')} to free nodes` };
    }
    const placed = this.placed.get(jobId);
    const waitsAgain = this.queued.has(jobId) && !this.inFlight.has(jobId);
    if (placed && placed.explanation.tenant === tenant && !waitsAgain)
      return explanationView(placed.explanation, placed.decidedAt, standingOf);
    const job = this.jobs.get(jobId);
    if (job && job.tenant === tenant && this.queued.has(jobId)) {
      return notRetained(
        jobId,
        `each pass explains the first ${EXPLAINED_WAITING_JOBS} waiting jobs of the queue, and this one was not among them`,
      );
    }
    return notRetained(
      jobId,
      `the scheduler keeps the reasons of the jobs waiting now and of its most recent placements (at most ${EXPLAINED_PLACEMENTS}); this job is neither`,
    );
  }

  /**
   * `<ns>.leader.scheduler.<verb>`: every replica listens, only the leader (it alone holds the
   * reasons and the live picture) answers, in the command reply format.
   */
  private answerAsLeader<S extends z.ZodType>(
    msg: Msg,
    definition: { readonly type: string; readonly schema: S },
    answer: (data: z.output<S>, tenant: string) => unknown,
  ): void {
    if (!this.leader || !msg.reply) return;
    let reply: Uint8Array;
    try {
      const decoded = decodeCommand(msg.data, commandRegistry);
      if (!decoded.ok) throw decoded.error;
      const command = decoded.envelope;
      if (command.type !== definition.type)
        throw new GantryError(
          ErrorCodes.VALIDATION_FAILED,
          `expected ${definition.type}, got ${command.type}`,
        );
      const parsed = definition.schema.safeParse(command.data);
      if (!parsed.success) throw validationError(definition.type, parsed.error);
      reply = encodeReply(successReply(answer(parsed.data, command.metadata.tenant)));
    } catch (err) {
      reply = encodeReply(
        errorReply(isGantryError(err) ? err : new GantryError(ErrorCodes.INTERNAL, describe(err))),
      );
    }
    msg.respond(reply);
  }

  // ---- estimated starts (C7) -----------------------------------------------------------------

  /** A snapshot of now for a forward run: probes are not counted on (a probe node stays out). */
  private estimateInput(now: number) {
    return placementSnapshot(this.placementState(this.placementFacts(now, false).facts), {
      now,
      seed: this.options.config.seed,
      maxDecisions: Number.POSITIVE_INFINITY,
      explainLimit: 0,
    });
  }

  /** When a new job of this shape, submitted now by `tenant`, would start in each pool. */
  estimateFor(
    shape: { readonly resources: Resources; readonly nodes: number },
    tenant: string,
  ): StartEstimatesReply {
    const now = this.now();
    const input = this.estimateInput(now);
    const pools = [...new Set([...this.nodes.values()].flatMap((node) => node.pools))].sort();
    return {
      pools: pools.map((pool) => {
        const probe = {
          tenant,
          jobId: `estimate-${randomUUID()}`,
          pool,
          nodes: shape.nodes,
          resources: shape.resources,
          // A submission's default priority, queued now: behind everything already waiting.
          priority: 100,
          enqueuedAt: now,
          notBefore: null,
          expectedRuntimeSeconds: null,
        };
        const starts = estimateStarts(
          {
            ...input,
            jobs: [...input.jobs, probe],
            config: {
              ...input.config,
              tenantWeights: { [tenant]: 1, ...input.config.tenantWeights },
            },
          },
          ESTIMATE_LIMITS,
        );
        const at = starts.get(probe.jobId);
        return { pool, estimatedStartAt: at === undefined ? null : new Date(at).toISOString() };
      }),
    };
  }

  /** Every few seconds, the leader's estimate of when each queued job starts, for the read side. */
  private async writeEstimates(): Promise<void> {
    const now = this.now();
    if (now - this.lastEstimatePruneAt >= ESTIMATE_PRUNE_EVERY_MS) {
      this.lastEstimatePruneAt = now;
      await pruneStartEstimates(this.options.pool, new Date(now - ESTIMATE_RETENTION_MS)).catch(
        (err: unknown) => this.options.log('estimates_write_failed', { error: describe(err) }),
      );
    }
    if (this.queued.size === 0 || now - this.lastEstimateAt < ESTIMATE_EVERY_MS) return;
    this.lastEstimateAt = now;
    const input = this.estimateInput(now);
    let starts: Map<string, number>;
    try {
      starts = estimateStarts(input, ESTIMATE_LIMITS);
    } catch (err) {
      this.options.log('estimate_failed', { error: describe(err) });
      return;
    }
    await upsertStartEstimates(
      this.options.pool,
      input.jobs.map((job) => {
        const at = starts.get(job.jobId);
        return {
          jobId: job.jobId,
          tenant: job.tenant,
          estimatedStartAt: at === undefined ? null : new Date(at),
        };
      }),
      new Date(now),
    ).catch((err: unknown) => this.options.log('estimates_write_failed', { error: describe(err) }));
  }

  // ---- node standing (C9) --------------------------------------------------------------------

  /** An admin's cordon, drain, uncordon or clear, decided on the node's stream. */
  async changeStanding(command: CommandEnvelope): Promise<NodeStandingReply> {
    const parse = <S extends z.ZodType>(schema: S): z.output<S> => {
      const parsed = schema.safeParse(command.data);
      if (!parsed.success) throw validationError(command.type, parsed.error);
      return parsed.data;
    };
    let nodeId: string;
    let decided: NodeStandingCommand;
    switch (command.type) {
      case CordonNode.type: {
        const data = parse(CordonNode.schema);
        nodeId = data.nodeId;
        decided = { type: 'CordonNode', reason: data.reason };
        break;
      }
      case DrainNode.type: {
        const data = parse(DrainNode.schema);
        nodeId = data.nodeId;
        decided = { type: 'DrainNode', reason: data.reason };
        break;
      }
      case UncordonNode.type:
        nodeId = parse(UncordonNode.schema).nodeId;
        decided = { type: 'UncordonNode' };
        break;
      case ClearNode.type:
        nodeId = parse(ClearNode.schema).nodeId;
        decided = { type: 'ClearNode' };
        break;
      default:
        throw new GantryError(
          ErrorCodes.VALIDATION_FAILED,
          `${command.type} does not change a node's standing`,
        );
    }
    const standing = await this.standings.decide(nodeId, decided, commandContextOf(command));
    this.options.log('node_standing_changed', {
      nodeId,
      command: command.type,
      actor: command.metadata.actor,
    });
    this.standingChanged();
    return standingReply(standing);
  }

  /** A node event from the bus (this replica's or another's): the standing it folds to. */
  async onNodeEvent(event: EventEnvelope): Promise<void> {
    if (await this.standings.observe(event)) this.standingChanged();
  }

  private standingChanged(): void {
    this.nodesDirty = true;
    this.schedulePass();
  }

  /** A standing change the scheduler decides itself (quarantine, probe, drained): leader only. */
  private decideStanding(nodeId: string, command: NodeStandingCommand, causationId: string): void {
    if (!this.leader) {
      if (command.type === 'RecordProbe') this.standings.verdictSettled(nodeId);
      return;
    }
    if (command.type === 'QuarantineNode') this.quarantining.add(nodeId);
    this.track(
      this.standings
        .decide(nodeId, command, schedulerContext(causationId, `node-${nodeId}-${randomUUID()}`))
        .then(() => {
          this.options.log('node_standing_changed', {
            nodeId,
            command: command.type,
            actor: 'scheduler',
          });
          this.standingChanged();
        })
        .catch((err: unknown) =>
          this.options.log('node_standing_failed', {
            nodeId,
            command: command.type,
            error: describe(err),
          }),
        )
        .finally(() => {
          if (command.type === 'RecordProbe') this.standings.verdictSettled(nodeId);
          if (command.type === 'QuarantineNode') this.quarantining.delete(nodeId);
        }),
    );
  }

  /**
   * What an attempt's end says of its nodes: a failed attempt blames the node of the first rank
   * that exited non-zero (the others were killed because of it); a success clears every node of
   * the gang. A cancel says nothing of any node, nor does a kill at maxRuntimeSeconds (the job's
   * own limit), nor does a lost node: liveness has its own answer
   * (no lease until it heartbeats again), and an agent restart must not come back quarantined.
   */
  private observeOutcome(before: JobView | undefined, event: JobEventEnvelope): void {
    const jobId = event.data.jobId;
    switch (event.type) {
      case 'RankExited': {
        if (event.data.exitCode === 0 || before?.cancelRequested) return;
        const known = this.firstFailure.get(jobId);
        if (!known || known.attempt !== event.data.attempt)
          this.firstFailure.set(jobId, { attempt: event.data.attempt, nodeId: event.data.nodeId });
        return;
      }
      case 'AttemptFailed': {
        const first = this.firstFailure.get(jobId);
        this.firstFailure.delete(jobId);
        const blamed =
          event.data.nodeLost === undefined &&
          event.data.cause !== 'max-runtime' &&
          first?.attempt === event.data.attempt
            ? first.nodeId
            : undefined;
        if (blamed && !before?.cancelRequested) this.attemptEnded(blamed, jobId, false, event.id);
        this.standings.forgetProbesOf(jobId);
        return;
      }
      case 'JobSucceeded':
        for (const { nodeId } of before?.lease?.nodes ?? [])
          this.attemptEnded(nodeId, jobId, true, event.id);
        this.firstFailure.delete(jobId);
        this.standings.forgetProbesOf(jobId);
        return;
      case 'LeaseExpired':
      case 'JobCancelled':
        this.standings.forgetProbesOf(jobId);
        return;
      default:
        return;
    }
  }

  private attemptEnded(
    nodeId: string,
    jobId: string,
    succeeded: boolean,
    causationId: string,
  ): void {
    const command = this.standings.recordOutcome(nodeId, jobId, succeeded);
    if (!command) return;
    if (command.type === 'QuarantineNode' && !mayQuarantine(this.poolsOf(nodeId))) {
      this.options.log('quarantine_withheld', {
        nodeId,
        consecutiveFailures: command.consecutiveFailures,
        reason: 'it would leave less than half of a pool of this node in service',
      });
      return;
    }
    this.decideStanding(nodeId, command, causationId);
  }

  /** Each pool of the node: its enrolled nodes, the quarantined ones, and the ones in service. */
  private poolsOf(nodeId: string): PoolStanding[] {
    const pools = this.nodes.get(nodeId)?.pools ?? [];
    return pools.map((pool) => {
      let nodes = 0;
      let quarantined = 0;
      let inService = 0;
      for (const node of this.nodes.values()) {
        if (!node.pools.includes(pool)) continue;
        nodes += 1;
        if (this.standings.of(node.nodeId)?.quarantined || this.quarantining.has(node.nodeId))
          quarantined += 1;
        else if (node.status === 'ready') inService += 1;
      }
      return { nodes, quarantined, inService };
    });
  }

  /** Draining nodes whose running work has all ended are recorded drained. */
  private markDrained(busy: ReadonlyMap<string, { leases: number }>): void {
    for (const node of this.nodes.values()) {
      const standing = this.standings.of(node.nodeId);
      if (!standing?.draining || standing.drained || this.drainsInFlight.has(node.nodeId)) continue;
      const leases = busy.get(node.nodeId)?.leases ?? 0;
      if (leases > 0) continue;
      this.drainsInFlight.add(node.nodeId);
      this.track(
        this.standings
          .decide(
            node.nodeId,
            { type: 'MarkDrained', runningLeases: leases },
            schedulerContext(randomUUID(), `drain-${node.nodeId}-${randomUUID()}`),
          )
          .then(() => {
            this.options.log('node_drained', { nodeId: node.nodeId });
            this.nodesDirty = true;
          })
          .catch((err: unknown) =>
            this.options.log('node_standing_failed', { nodeId: node.nodeId, error: describe(err) }),
          )
          .finally(() => this.drainsInFlight.delete(node.nodeId)),
      );
    }
  }

  private now(): number {
    return this.options.clock().getTime();
  }

  /** Non-terminal jobs from job_summary, each folded from its stream in the store (the truth). */
  async load(): Promise<number> {
    const { rows } = await this.options.pool.query<{ job_id: string }>(
      'SELECT job_id FROM job_summary WHERE NOT (state = ANY($1::text[]))',
      [TERMINAL_STATES],
    );
    for (const { job_id: jobId } of rows) await this.refreshFromStore(jobId, 1);
    // Leases found at start get a full TTL from now: their renewals were another process's.
    for (const jobId of this.leased) this.trackRenewals(jobId);
    return rows.length;
  }

  /**
   * The safety net under the event feed: every RESYNC_MS the projection's non-terminal jobs are
   * compared with what the scheduler holds, and any job it lacks or holds behind the projection's
   * version is read again from the store. An event the bus lost, or one the durable consumer had
   * acknowledged for a previous process before the projection caught up at this one's start,
   * delays a job by one resync instead of leaving it queued forever.
   */
  async resync(): Promise<number> {
    const { rows } = await this.options.pool.query<{ job_id: string; last_version: number }>(
      'SELECT job_id, last_version FROM job_summary WHERE NOT (state = ANY($1::text[]))',
      [TERMINAL_STATES],
    );
    const live = new Set<string>();
    let refreshed = 0;
    for (const { job_id: jobId, last_version: version } of rows) {
      live.add(jobId);
      const view = this.jobs.get(jobId);
      if (view && view.version >= version) continue;
      await this.refreshFromStore(jobId, view ? view.version + 1 : 1);
      refreshed += 1;
    }
    // Held here but ended in the projection: the ending event was missed.
    for (const [jobId, view] of [...this.jobs]) {
      if (live.has(jobId)) continue;
      await this.refreshFromStore(jobId, view.version + 1);
      refreshed += 1;
    }
    if (refreshed > 0) this.options.log('resynced', { jobs: refreshed });
    return refreshed;
  }

  async start(nc: NatsConnection): Promise<void> {
    this.nc = nc;
    this.lastResync = this.now();
    this.heartbeats = nc.subscribe(
      this.options.subjects.allNodeKind(NODE_SUBJECT_KINDS.heartbeat),
      {
        callback: (err, msg) => {
          if (err) {
            this.options.log('heartbeat_subscription_failed', { error: err.message });
            return;
          }
          this.onHeartbeat(msg);
        },
      },
    );
    this.leaderRequests = [
      nc.subscribe(this.options.subjects.leaderCommand('scheduler', 'explain'), {
        callback: (err, msg) =>
          err
            ? undefined
            : this.answerAsLeader(msg, ExplainJob, (data, tenant) =>
                this.explain(data.jobId, tenant),
              ),
      }),
      nc.subscribe(this.options.subjects.leaderCommand('scheduler', 'estimate'), {
        callback: (err, msg) =>
          err
            ? undefined
            : this.answerAsLeader(msg, EstimateStart, (data, tenant) =>
                this.estimateFor(data, tenant),
              ),
      }),
    ];
    await nc.flush();
    await this.tryToLead();
    this.ticker = setInterval(() => void this.tick(), this.options.config.tickMs);
    // Loss is checked more often than the tick: "lost within 10 s" must not wait up to another
    // second for the sweep, and the check is a walk over the nodes in memory.
    this.lossWatch = setInterval(
      () => {
        if (this.leader && !this.stopping) this.detectLostNodes();
      },
      Math.max(50, Math.min(250, this.options.config.nodeLostMs / 8)),
    );
    this.schedulePass();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.lossWatch) clearInterval(this.lossWatch);
    this.heartbeats?.unsubscribe();
    for (const subscription of this.leaderRequests) subscription.unsubscribe();
    await Promise.allSettled([...this.pending]);
    await this.session?.end().catch(() => undefined);
    this.session = undefined;
    this.leader = false;
  }

  // ---- enrolment and heartbeats -------------------------------------------------------------

  async enrol(raw: unknown): Promise<EnrolNodeReply> {
    const parsed = EnrolNodeRequestSchema.safeParse(raw);
    if (!parsed.success) throw validationError('enrol-node request', parsed.error);
    const request = parsed.data;
    if (!secretsEqual(request.enrolToken, this.options.config.enrolToken)) {
      throw new GantryError(ErrorCodes.FORBIDDEN, 'the enrolment token is not valid', {
        details: { nodeId: request.nodeId },
      });
    }
    const now = this.now();
    await this.options.store.append(streamIdOf('node', request.nodeId), 'any', [
      {
        type: 'NodeEnrolled',
        data: {
          nodeId: request.nodeId,
          pools: request.pools,
          labels: request.labels,
          capacity: request.capacity,
          hostname: request.hostname,
          enrolledAt: new Date(now).toISOString(),
        },
        metadata: {
          tenant: SYSTEM_TENANT,
          causationId: null,
          correlationId: `enrol-${request.nodeId}-${randomUUID()}`,
          actor: 'scheduler',
        },
      },
    ]);
    // Its standing (a cordon, a quarantine) outlives the agent: read it before it takes leases.
    await this.standings.load(request.nodeId);
    this.upsertNode(request, now, -1);
    this.options.log('node_enrolled', { nodeId: request.nodeId, pools: request.pools });
    return {
      nodeId: request.nodeId,
      nodeToken: nodeTokenFor(this.options.config.nodeSecret, request.nodeId),
      heartbeatIntervalMs: this.options.config.heartbeatIntervalMs,
      leaseTtlMs: this.options.config.leaseTtlMs,
    };
  }

  private upsertNode(
    described: Pick<NodeState, 'nodeId' | 'pools' | 'labels' | 'hostname' | 'capacity'>,
    now: number,
    sequence: number,
  ): NodeState {
    const known = this.nodes.get(described.nodeId);
    const node: NodeState = known ?? {
      nodeId: described.nodeId,
      pools: described.pools,
      labels: described.labels,
      hostname: described.hostname,
      capacity: described.capacity,
      status: 'ready',
      lastSeenAt: now,
      lastSequence: sequence,
    };
    if (known && known.status === 'lost') this.options.log('node_back', { nodeId: known.nodeId });
    node.pools = described.pools;
    node.labels = described.labels;
    node.hostname = described.hostname;
    node.capacity = { ...described.capacity, gpu: described.capacity.gpu ?? 0 };
    node.status = 'ready';
    node.lastSeenAt = now;
    node.lastSequence = sequence;
    this.nodes.set(node.nodeId, node);
    if (!this.standings.of(node.nodeId)) {
      // Heard of before its standing was read (a restart: agents heartbeat without enrolling).
      this.track(
        this.standings
          .load(node.nodeId)
          .then(() => this.standingChanged())
          .catch((err: unknown) =>
            this.options.log('node_standing_load_failed', {
              nodeId: node.nodeId,
              error: describe(err),
            }),
          ),
      );
    }
    this.nodesDirty = true;
    this.schedulePass();
    return node;
  }

  private onHeartbeat(msg: Msg): void {
    let set: NodeLeaseSet;
    try {
      set = this.heartbeat(msg.json());
    } catch (err) {
      this.options.log('heartbeat_refused', { subject: msg.subject, error: describe(err) });
      set = { accepted: false, leases: [] };
    }
    // Every replica keeps its node view warm; only the leader answers for the leases.
    if (this.leader && msg.reply) msg.respond(encode(set));
  }

  /** Renews what the node reports running and answers every lease the node should hold. */
  heartbeat(raw: unknown): NodeLeaseSet {
    const parsed = NodeHeartbeatSchema.safeParse(raw);
    if (!parsed.success) return { accepted: false, leases: [] };
    const beat = parsed.data;
    if (!isNodeTokenValid(this.options.config.nodeSecret, beat.nodeId, beat.nodeToken)) {
      return { accepted: false, leases: [] };
    }
    const now = this.now();
    const known = this.nodes.get(beat.nodeId);
    // A delayed heartbeat from this agent process says nothing newer than what we have.
    const stale = known !== undefined && beat.sequence <= known.lastSequence;
    if (!stale) {
      this.upsertNode(beat, now, beat.sequence);
      for (const rank of beat.running) {
        const renewals = this.renewals.get(rank.jobId);
        const lease = this.jobs.get(rank.jobId)?.lease;
        if (!renewals || !lease || lease.epoch !== rank.leaseEpoch) continue;
        if (lease.nodes.some((n) => n.nodeId === beat.nodeId && n.rank === rank.rank))
          renewals.renewedAt.set(beat.nodeId, now);
      }
    }
    return { accepted: true, leases: this.offersFor(beat.nodeId) };
  }

  private offersFor(nodeId: string): LeaseOffer[] {
    const offers: LeaseOffer[] = [];
    for (const jobId of this.leased) {
      const job = this.jobs.get(jobId);
      // A cancelled or preempted job's processes are being killed: listing it would start them again.
      if (!job?.lease || job.cancelRequested || job.preemptRequested) continue;
      const rank = job.lease.nodes.find((n) => n.nodeId === nodeId);
      if (rank) {
        const offer = this.offerOf(job, rank.rank);
        if (offer) offers.push(offer);
      }
    }
    return offers;
  }

  private offerOf(job: JobView, rank: number): LeaseOffer | undefined {
    const { lease, spec } = job;
    if (!lease || !spec) return undefined;
    const hosts = lease.nodes.map((n) => this.nodes.get(n.nodeId)?.hostname ?? n.nodeId);
    const renewed = this.renewals.get(job.jobId);
    const lastRenewal = renewed
      ? Math.min(...lease.nodes.map((n) => renewed.renewedAt.get(n.nodeId) ?? lease.leasedAt))
      : lease.leasedAt;
    return {
      tenant: job.tenant,
      jobId: job.jobId,
      attempt: lease.attempt,
      leaseEpoch: lease.epoch,
      rank,
      worldSize: lease.nodes.length,
      hosts,
      coordinator: `${hosts[0]}:${coordinatorPort(job.jobId)}`,
      leaseExpiresAt: new Date(lastRenewal + this.options.config.leaseTtlMs).toISOString(),
      // A job with steps has no command of its own, and is never leased.
      command: spec.command ?? [],
      env: spec.env,
      resources: spec.resources,
      runtime: spec.runtime,
      ...(spec.maxRuntimeSeconds === undefined
        ? {}
        : { maxRuntimeSeconds: spec.maxRuntimeSeconds }),
      inputs: spec.inputs,
      ...(spec.outputs.length === 0 ? {} : { outputs: spec.outputs }),
    };
  }

  // ---- job events ----------------------------------------------------------------------------

  /** One job event from the bus; a gap in the job's versions is filled from the store. */
  async onJobEvent(event: EventEnvelope): Promise<void> {
    if (!isJobEvent(event)) return;
    const jobId = event.data.jobId;
    const view = this.jobs.get(jobId);
    const version = event.metadata.streamVersion;
    if (view && version <= view.version) return;
    const contiguous = view ? version === view.version + 1 : event.type === 'JobSubmitted';
    if (!contiguous) {
      await this.refreshFromStore(jobId, view ? view.version + 1 : 1);
      return;
    }
    this.apply(event, true);
  }

  private async refreshFromStore(jobId: string, fromVersion: number): Promise<void> {
    const events = await this.options.store.readStream(streamIdOf('job', jobId), { fromVersion });
    for (const event of events) if (isJobEvent(event)) this.apply(event);
  }

  /**
   * `live`: the event arrived now on the bus. Only live events count toward a node's quarantine:
   * history read again at a start or a gap fill was counted when it happened (or predates an
   * admin's clear), and must not quarantine a node a second time.
   */
  private apply(event: JobEventEnvelope, live = false): void {
    const before = this.jobs.get(event.data.jobId);
    const { view, effects } = foldJobEvent(before, event);
    if (!view) return;
    const jobId = view.jobId;
    if (live) this.observeOutcome(before, event);
    if (view.phase === 'done') {
      this.jobs.delete(jobId);
      this.firstFailure.delete(jobId);
    } else {
      this.jobs.set(jobId, view);
    }
    if (view.phase === 'queued' && !view.lease) this.queued.add(jobId);
    else this.queued.delete(jobId);
    if (view.lease && view.phase !== 'done') {
      this.leased.add(jobId);
      if (this.renewals.get(jobId)?.epoch !== view.lease.epoch) this.trackRenewals(jobId);
    } else {
      this.leased.delete(jobId);
      this.renewals.delete(jobId);
    }
    for (const effect of effects) this.perform(view, effect);
  }

  private trackRenewals(jobId: string): void {
    const lease = this.jobs.get(jobId)?.lease;
    if (!lease) return;
    const now = this.now();
    this.renewals.set(jobId, {
      epoch: lease.epoch,
      renewedAt: new Map(lease.nodes.map((n) => [n.nodeId, now])),
      ending: false,
    });
  }

  private perform(view: JobView, effect: JobEffect): void {
    switch (effect.kind) {
      case 'changed':
        this.nodesDirty = true;
        this.schedulePass();
        return;
      case 'adopt-lease':
        if (this.leader) this.pushOffers(view);
        return;
      case 'kill':
        if (this.leader) this.pushKill(view, effect.nodeIds, effect.leaseEpoch, effect.reason);
        return;
      default: {
        const unhandled: never = effect;
        throw new Error(`no case for ${JSON.stringify(unhandled)}`);
      }
    }
  }

  private pushOffers(job: JobView): void {
    const nc = this.nc;
    if (!nc || !job.lease) return;
    for (const { nodeId, rank } of job.lease.nodes) {
      const offer = this.offerOf(job, rank);
      if (offer)
        nc.publish(this.options.subjects.node(nodeId, NODE_SUBJECT_KINDS.lease), encode(offer));
    }
  }

  private pushKill(
    job: Pick<JobView, 'tenant' | 'jobId'>,
    nodeIds: readonly string[],
    leaseEpoch: number,
    reason: KillAttempt['reason'],
  ): void {
    const nc = this.nc;
    if (!nc) return;
    const kill: KillAttempt = { tenant: job.tenant, jobId: job.jobId, leaseEpoch, reason };
    for (const nodeId of nodeIds)
      nc.publish(this.options.subjects.node(nodeId, NODE_SUBJECT_KINDS.kill), encode(kill));
    this.options.log('kill_pushed', { jobId: job.jobId, leaseEpoch, reason, nodes: nodeIds });
  }

  // ---- placement -----------------------------------------------------------------------------

  /** Coalesces triggers: one pass per turn of the event loop, however many things changed. */
  private schedulePass(): void {
    if (this.passScheduled || this.stopping) return;
    this.passScheduled = true;
    setImmediate(() => {
      this.passScheduled = false;
      this.runPass();
    });
  }

  /** What live leases and lease commands in flight hold on each node. */
  private usedByNode(): Map<string, { used: Resources; leases: number }> {
    return usedByNode(runningAllocations(this.placementState()));
  }

  private placementState(nodes: Iterable<NodeFacts> = this.nodes.values()): LivePlacementState {
    return {
      nodes,
      jobs: this.jobs,
      queued: this.queued,
      leased: this.leased,
      inFlight: this.inFlight,
    };
  }

  /**
   * C9: cordoned and quarantined nodes take no lease; with `probes`, a quarantined node whose
   * probe is due and that runs nothing takes one, the probe (its outcome lifts or extends the
   * quarantine).
   */
  private placementFacts(
    now: number,
    probes: boolean,
  ): { facts: NodeFacts[]; probeNodes: Set<string> } {
    const busy = this.usedByNode();
    this.standings.pruneProbes((nodeId, jobId) => {
      const nodes = this.inFlight.get(jobId)?.nodes ?? this.jobs.get(jobId)?.lease?.nodes ?? [];
      return nodes.some((n) => n.nodeId === nodeId);
    });
    const probeNodes = new Set<string>();
    const facts: NodeFacts[] = [...this.nodes.values()].map((node) => {
      const standing = this.standings.of(node.nodeId);
      const probe =
        probes &&
        standing !== undefined &&
        isProbeDue(standing, now) &&
        !this.standings.isProbing(node.nodeId) &&
        !busy.has(node.nodeId);
      if (probe) probeNodes.add(node.nodeId);
      return {
        ...node,
        cordoned: standing === undefined || !standing.enrolled || standing.cordoned,
        quarantined: (standing?.quarantined ?? false) && !probe,
      };
    });
    return { facts, probeNodes };
  }

  private runPass(): void {
    if (!this.leader || this.stopping || !this.nc) return;
    if (this.queued.size === 0) {
      this.explanations = new Map();
      return;
    }
    const room = this.options.config.maxLeasesInFlight - this.inFlight.size;
    if (room <= 0) return;
    const now = this.now();
    const { facts, probeNodes } = this.placementFacts(now, true);
    let pass: PassResult;
    let input: SnapshotInput | null;
    try {
      // The kept core decides what schedulePass(placementSnapshot(...)) would, without the
      // O(queue) rebuild; preemption alone needs that snapshot, so it is made only then.
      ({ pass, input } = this.placement.pass(this.placementState(facts), {
        now,
        maxDecisions: room,
        explainLimit: EXPLAINED_WAITING_JOBS,
        withInput: this.options.config.preemptionPools.size > 0,
      }));
    } catch (err) {
      // The feeder starts over from the whole state at the next pass.
      this.options.log('placement_failed', { error: describe(err) });
      return;
    }
    this.explanations = waitingExplanations(pass, EXPLAINED_WAITING_JOBS);
    this.lastPassAt = now;
    const placedWhy = new Map(
      pass.explanations.filter((e) => e.outcome === 'placed').map((e) => [e.jobId, e]),
    );
    const probed = new Set<string>();
    for (const decision of pass.decisions) {
      const onProbe = decision.nodes.filter((n) => probeNodes.has(n.nodeId));
      // One probe per node: a second job the pass put there waits for the next pass.
      if (onProbe.some((n) => probed.has(n.nodeId))) continue;
      for (const { nodeId } of onProbe) {
        probed.add(nodeId);
        this.standings.markProbe(nodeId, decision.jobId);
        this.options.log('node_probe', { nodeId, jobId: decision.jobId });
      }
      const why = placedWhy.get(decision.jobId);
      if (why) this.placed.remember(why, now);
      this.lease(decision, now);
    }
    if (input) this.preempt(input, pass);
  }

  /** C6: asks the controller to evict the victims of the pass's preemption plans. */
  private preempt(snapshot: SnapshotInput, pass: PassResult): void {
    const pools = this.options.config.preemptionPools;
    if (pools.size === 0) return;
    for (const [preemptor, eviction] of this.preempting) {
      for (const [victim, epoch] of eviction.victims) {
        if (this.jobs.get(victim)?.lease?.epoch !== epoch) eviction.victims.delete(victim);
      }
      if (eviction.victims.size === 0 || !this.queued.has(preemptor))
        this.preempting.delete(preemptor);
    }
    const plans = choosePreemptions({
      snapshot,
      pass,
      jobs: this.jobs,
      pools,
      busyPools: new Set([...this.preempting.values()].map((e) => e.pool)),
    });
    for (const plan of plans) {
      const preemptor = this.jobs.get(plan.jobId);
      if (!preemptor?.spec) continue;
      const victims = new Map<string, number>();
      for (const victimId of plan.victims) {
        const lease = this.jobs.get(victimId)?.lease;
        if (lease) victims.set(victimId, lease.epoch);
      }
      this.preempting.set(plan.jobId, { pool: preemptor.spec.pool, victims });
      this.options.log('preemption_planned', {
        jobId: plan.jobId,
        pool: preemptor.spec.pool,
        victims: plan.victims,
        nodes: plan.nodes,
      });
      for (const [victimId, leaseEpoch] of victims) {
        const victim = this.jobs.get(victimId);
        if (!victim) continue;
        const sent = this.command('preempt', 'PreemptAttempt', victim.tenant, {
          jobId: victimId,
          leaseEpoch,
          preemptedBy: plan.jobId,
          reason: `preempted by job ${plan.jobId} (priority ${String(preemptor.spec.priority)}) in pool ${preemptor.spec.pool}`,
        }).catch((err: unknown) => {
          // The attempt ended on its own, or the request is lost: nothing of it is being evicted.
          this.preempting.get(plan.jobId)?.victims.delete(victimId);
          this.options.log('preempt_failed', {
            jobId: victimId,
            leaseEpoch,
            code: isGantryError(err) ? err.code : undefined,
            error: describe(err),
          });
          this.schedulePass();
        });
        this.track(sent);
      }
    }
  }

  private lease(decision: Decision, now: number): void {
    const job = this.jobs.get(decision.jobId);
    if (!job) return;
    const leaseEpoch = job.leaseEpoch + 1;
    const attempt = job.attempt + 1;
    this.inFlight.set(job.jobId, {
      tenant: decision.tenant,
      jobId: decision.jobId,
      nodes: decision.nodes,
      at: now,
    });
    const sent = this.command('lease', 'LeaseJob', job.tenant, {
      jobId: job.jobId,
      leaseEpoch,
      nodes: decision.nodes,
      leaseExpiresAt: new Date(now + this.options.config.leaseTtlMs).toISOString(),
    })
      .then(() => {
        this.inFlight.delete(job.jobId);
        const current = this.jobs.get(job.jobId);
        // The JobLeased event got here first and already offered the lease.
        if (!current || (current.lease && current.lease.epoch >= leaseEpoch)) return;
        const leased: JobView = {
          ...current,
          phase: 'leased',
          attempt,
          leaseEpoch,
          notBefore: null,
          lease: { epoch: leaseEpoch, attempt, nodes: decision.nodes, leasedAt: now },
        };
        this.jobs.set(job.jobId, leased);
        this.queued.delete(job.jobId);
        this.leased.add(job.jobId);
        this.trackRenewals(job.jobId);
        this.nodesDirty = true;
        this.pushOffers(leased);
        this.track(
          recordActualStart(this.options.pool, job.jobId, new Date(now)).catch((err: unknown) =>
            this.options.log('estimates_write_failed', { error: describe(err) }),
          ),
        );
        this.options.log('leased', {
          jobId: job.jobId,
          tenant: job.tenant,
          leaseEpoch,
          attempt,
          nodes: decision.nodes,
        });
      })
      .catch((err: unknown) => {
        this.inFlight.delete(job.jobId);
        this.standings.forgetProbesOf(job.jobId);
        const code = isGantryError(err) ? err.code : undefined;
        const current = this.jobs.get(job.jobId);
        if (code === ErrorCodes.ILLEGAL_TRANSITION || code === ErrorCodes.NOT_FOUND) {
          // Not leasable any more (cancelled, held, ...): its events will say what it became.
          if (current && !current.lease) {
            this.jobs.set(job.jobId, { ...current, phase: 'waiting' });
            this.queued.delete(job.jobId);
          }
        } else if (code === ErrorCodes.BACKOFF_NOT_ELAPSED && current && isGantryError(err)) {
          const notBefore = Date.parse(String(err.details['notBefore']));
          if (Number.isFinite(notBefore)) this.jobs.set(job.jobId, { ...current, notBefore });
        } else if (code === ErrorCodes.LEASE_STALE_EPOCH && current && isGantryError(err)) {
          const epoch = Number(err.details['current']);
          if (Number.isInteger(epoch) && epoch > current.leaseEpoch)
            this.jobs.set(job.jobId, { ...current, leaseEpoch: epoch });
        }
        this.options.log('lease_refused', {
          jobId: job.jobId,
          leaseEpoch,
          code,
          error: describe(err),
        });
      })
      .finally(() => this.schedulePass());
    this.track(sent);
  }

  private track(promise: Promise<unknown>): void {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
  }

  private command(
    verb: string,
    type: string,
    tenant: string,
    data: Record<string, unknown>,
  ): Promise<unknown> {
    const nc = this.nc;
    if (!nc) return Promise.reject(new GantryError(ErrorCodes.UNAVAILABLE, 'not started'));
    const envelope = commandEnvelope(type, data, {
      tenant,
      occurredAt: this.options.clock(),
      correlationId: `scheduler-${randomUUID()}`,
      actor: 'scheduler',
    });
    return sendCommand(nc, this.options.subjects, 'controller', verb, envelope, {
      timeoutMs: this.options.commandTimeoutMs ?? 10_000,
    });
  }

  // ---- the second-by-second loop: leadership, node loss, reaping, the read model ------------

  private async tick(): Promise<void> {
    if (this.stopping) return;
    try {
      if (!this.leader) await this.tryToLead();
      if (this.leader) {
        if (this.now() - this.lastResync >= RESYNC_MS) {
          this.lastResync = this.now();
          await this.resync();
        }
        this.detectLostNodes();
        this.reapLeases();
        this.markDrained(this.usedByNode());
        this.runPass();
        await this.writeEstimates();
        await this.writeNodes();
      }
    } catch (err) {
      this.options.log('tick_failed', { error: describe(err) });
    }
  }

  private async tryToLead(): Promise<void> {
    try {
      if (!this.session) {
        const session = new Client({ connectionString: this.options.databaseUrl });
        session.on('error', (err) => {
          // Ending the session released the lock: stop placing at once.
          this.options.log('leader_session_lost', { error: err.message });
          this.leader = false;
          this.session = undefined;
        });
        await session.connect();
        this.session = session;
      }
      const { rows } = await this.session.query<{ acquired: boolean }>(
        "SELECT pg_try_advisory_lock($1, hashtext('scheduler')) AS acquired",
        [LEADER_LOCK_CLASS],
      );
      if (rows[0]?.acquired) {
        this.leader = true;
        // Nodes heard of as a standby get a full loss timeout from now, not from before.
        const now = this.now();
        for (const node of this.nodes.values()) node.lastSeenAt = Math.max(node.lastSeenAt, now);
        for (const jobId of this.leased) this.trackRenewals(jobId);
        this.options.log('leader', {});
        this.schedulePass();
      }
    } catch (err) {
      this.options.log('leadership_attempt_failed', { error: describe(err) });
      await this.session?.end().catch(() => undefined);
      this.session = undefined;
      this.leader = false;
    }
  }

  private detectLostNodes(): void {
    const now = this.now();
    for (const node of this.nodes.values()) {
      if (node.status !== 'ready' || now - node.lastSeenAt <= this.options.config.nodeLostMs)
        continue;
      node.status = 'lost';
      this.nodesDirty = true;
      this.options.log('node_lost', { nodeId: node.nodeId, lastSeenAt: new Date(node.lastSeenAt) });
      this.track(
        this.options.store
          .append(streamIdOf('node', node.nodeId), 'any', [
            {
              type: 'NodeLost',
              data: {
                nodeId: node.nodeId,
                lastSeenAt: new Date(node.lastSeenAt).toISOString(),
                lostAt: new Date(now).toISOString(),
              },
              metadata: {
                tenant: SYSTEM_TENANT,
                causationId: null,
                correlationId: `node-lost-${node.nodeId}-${randomUUID()}`,
                actor: 'scheduler',
              },
            },
          ])
          .catch((err: unknown) =>
            this.options.log('node_lost_append_failed', {
              nodeId: node.nodeId,
              error: describe(err),
            }),
          ),
      );
      for (const jobId of this.leased) {
        const lease = this.jobs.get(jobId)?.lease;
        if (!lease?.nodes.some((n) => n.nodeId === node.nodeId)) continue;
        this.endLease(jobId, 'report-node-lost', 'ReportNodeLost', { nodeId: node.nodeId });
      }
    }
  }

  private reapLeases(): void {
    const now = this.now();
    for (const jobId of this.leased) {
      const renewals = this.renewals.get(jobId);
      if (!renewals || renewals.ending) continue;
      const oldest = Math.min(...renewals.renewedAt.values());
      if (now - oldest <= this.options.config.leaseTtlMs) continue;
      this.options.log('lease_expired', { jobId, leaseEpoch: renewals.epoch });
      this.endLease(jobId, 'expire-lease', 'ExpireLease', {});
    }
  }

  /** Tells the controller a lease is over; the job's events then free it here. */
  private endLease(
    jobId: string,
    verb: 'report-node-lost' | 'expire-lease',
    type: string,
    extra: Record<string, unknown>,
  ): void {
    const job = this.jobs.get(jobId);
    const renewals = this.renewals.get(jobId);
    if (!job?.lease || !renewals || renewals.ending) return;
    renewals.ending = true;
    const leaseEpoch = job.lease.epoch;
    const sent = this.command(verb, type, job.tenant, {
      jobId,
      leaseEpoch,
      ...extra,
      retryJitter: Math.min(Math.max(this.options.random(), 0), 0.999_999),
    }).catch((err: unknown) => {
      const code = isGantryError(err) ? err.code : undefined;
      const current = this.jobs.get(jobId);
      if (
        code === ErrorCodes.LEASE_STALE_EPOCH ||
        code === ErrorCodes.ILLEGAL_TRANSITION ||
        code === ErrorCodes.NOT_FOUND
      ) {
        // The lease is already over in the job's history: drop what we held for it.
        if (current?.lease?.epoch === leaseEpoch) {
          this.jobs.set(jobId, { ...current, lease: null, phase: 'waiting' });
          this.leased.delete(jobId);
          this.renewals.delete(jobId);
          this.nodesDirty = true;
          this.schedulePass();
        }
      } else if (this.renewals.get(jobId) === renewals) {
        renewals.ending = false; // transient: the next tick tries again
      }
      this.options.log(`${verb}_failed`, { jobId, leaseEpoch, code, error: describe(err) });
    });
    this.track(sent);
  }

  private async writeNodes(): Promise<void> {
    const now = this.now();
    if (!this.nodesDirty || now - this.lastNodesWrite < this.options.config.tickMs / 2) return;
    this.nodesDirty = false;
    this.lastNodesWrite = now;
    const used = this.usedByNode();
    await upsertSchedulerNodes(
      this.options.pool,
      [...this.nodes.values()].map((node) => ({
        nodeId: node.nodeId,
        pools: node.pools,
        labels: node.labels,
        hostname: node.hostname,
        capacity: node.capacity,
        used: used.get(node.nodeId)?.used ?? NO_RESOURCES,
        runningLeases: used.get(node.nodeId)?.leases ?? 0,
        status: node.status,
        lastSeenAt: new Date(node.lastSeenAt),
        updatedAt: new Date(now),
        standing: standingFlags(this.standings.of(node.nodeId)),
      })),
    ).catch((err: unknown) => {
      this.nodesDirty = true;
      this.options.log('nodes_write_failed', { error: describe(err) });
    });
  }
}
