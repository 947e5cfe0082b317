import {
  SYSTEM_TENANT,
  nodeEventDefinitions,
  streamIdOf,
  type EventEnvelope,
  type NodeEvent,
} from '@gantry/contracts';
import {
  NO_FAILURES,
  decideNode,
  evolveNode,
  initialNodeStanding,
  recordAttempt,
  warrantsQuarantine,
  type FailureStreak,
  type NodeStanding,
  type NodeStandingCommand,
} from '@gantry/domain';
import {
  CommandProcessor,
  type CommandContext,
  type Decider,
  type PostgresEventStore,
} from '@gantry/event-store';

/**
 * What the scheduler knows of each node's standing (C9): folded from the node's stream, kept up
 * to date by the node events on the bus (another replica may have decided), and changed only
 * through `decide`, which appends with optimistic concurrency on the node's stream. Also the soft
 * state behind quarantine: each node's streak of failed attempts and its probe in flight.
 */
interface Held {
  readonly state: NodeStanding;
  readonly version: number;
}

const NODE_EVENT_TYPES: ReadonlySet<string> = new Set(nodeEventDefinitions.map((d) => d.type));

export const isNodeEvent = (event: EventEnvelope): boolean => NODE_EVENT_TYPES.has(event.type);

const asNodeEvent = (event: EventEnvelope): NodeEvent =>
  ({ type: event.type, data: event.data }) as NodeEvent;

const nodeDecider = (nodeId: string): Decider<NodeStanding, NodeStandingCommand, NodeEvent> => ({
  initialState: () => initialNodeStanding(nodeId),
  evolve: evolveNode,
  decide: decideNode,
});

export interface NodeStandingsOptions {
  readonly store: PostgresEventStore;
  readonly clock: () => Date;
  readonly random: () => number;
  /** How long a quarantined node waits before (and between) probes. */
  readonly probeDelayMs: number;
  /** Consecutive failed attempts (from 2 jobs or more) that quarantine a node; default 3. */
  readonly quarantineAfter?: number;
}

export class NodeStandings {
  private readonly held = new Map<string, Held>();
  private readonly loading = new Map<string, Promise<void>>();
  private readonly streaks = new Map<string, FailureStreak>();
  /** Node -> the job whose attempt is its probe. */
  private readonly probes = new Map<string, string>();
  /**
   * Nodes whose probe has ended and whose verdict is being recorded: until it is, the node's
   * standing still says "probe due", and it must not take a second probe meanwhile.
   */
  private readonly verdicts = new Set<string>();
  private readonly processor: CommandProcessor;

  constructor(private readonly options: NodeStandingsOptions) {
    this.processor = new CommandProcessor(options.store, {
      clock: options.clock,
      random: options.random,
    });
  }

  /** Undefined until the node's stream has been read: such a node takes no lease yet. */
  of(nodeId: string): NodeStanding | undefined {
    return this.held.get(nodeId)?.state;
  }

  /** Reads the node's stream (once at a time per node) and holds what it folds to. */
  load(nodeId: string): Promise<void> {
    const running = this.loading.get(nodeId);
    if (running) return running;
    const loading = (async () => {
      const events = await this.options.store.readStream(streamIdOf('node', nodeId));
      let state = initialNodeStanding(nodeId);
      let version = 0;
      for (const event of events) {
        if (!isNodeEvent(event)) continue;
        state = evolveNode(state, asNodeEvent(event));
        version = event.metadata.streamVersion;
      }
      const known = this.held.get(nodeId);
      if (!known || known.version < version) this.held.set(nodeId, { state, version });
    })().finally(() => this.loading.delete(nodeId));
    this.loading.set(nodeId, loading);
    return loading;
  }

  /** A node event from the bus or from our own append: folded in order, a gap read from the store. */
  async observe(event: EventEnvelope): Promise<boolean> {
    if (!isNodeEvent(event)) return false;
    const nodeId = String((event.data as { nodeId: unknown }).nodeId);
    const known = this.held.get(nodeId);
    const version = event.metadata.streamVersion;
    if (known && version <= known.version) return false;
    if (!known || version !== known.version + 1) {
      await this.load(nodeId);
      return true;
    }
    this.held.set(nodeId, { state: evolveNode(known.state, asNodeEvent(event)), version });
    return true;
  }

  /** Decides a command on the node's stream and holds the outcome at once. */
  async decide(
    nodeId: string,
    command: NodeStandingCommand,
    context: CommandContext,
  ): Promise<NodeStanding> {
    const decision = await this.processor.handle(
      nodeDecider(nodeId),
      streamIdOf('node', nodeId),
      command,
      context,
    );
    for (const event of decision.appended) await this.observe(event);
    const known = this.held.get(nodeId);
    if (!known || known.version < decision.version)
      this.held.set(nodeId, { state: decision.state, version: decision.version });
    return decision.state;
  }

  isProbing(nodeId: string): boolean {
    return this.probes.has(nodeId) || this.verdicts.has(nodeId);
  }

  /** The probe's verdict is recorded (or failed to be): the node may be probed again when due. */
  verdictSettled(nodeId: string): void {
    this.verdicts.delete(nodeId);
  }

  /** The job whose lease on a quarantined node is the node's probe. */
  markProbe(nodeId: string, jobId: string): void {
    this.probes.set(nodeId, jobId);
  }

  /**
   * Forgets the probes whose job no longer holds (nor is being given) a lease on the node. An
   * attempt's end normally settles its probe, but one learnt of only from the store (a gap after
   * a NATS or Postgres restart) or before this replica led says nothing live; without this, the
   * node would count as probing for ever and stay quarantined although its probe time has come.
   */
  pruneProbes(holds: (nodeId: string, jobId: string) => boolean): void {
    for (const [nodeId, jobId] of [...this.probes])
      if (!holds(nodeId, jobId)) this.probes.delete(nodeId);
  }

  /** The probes of a job whose attempt ended without saying anything of those nodes. */
  forgetProbesOf(jobId: string): void {
    for (const [nodeId, probe] of [...this.probes]) if (probe === jobId) this.probes.delete(nodeId);
  }

  /**
   * One attempt's outcome on one node. Answers the command it calls for, if any: the probe's
   * verdict, or a quarantine when the node's streak of failures warrants one.
   */
  recordOutcome(nodeId: string, jobId: string, succeeded: boolean): NodeStandingCommand | null {
    if (this.probes.get(nodeId) === jobId) {
      this.probes.delete(nodeId);
      this.verdicts.add(nodeId);
      this.streaks.delete(nodeId);
      return {
        type: 'RecordProbe',
        jobId,
        passed: succeeded,
        probeDelayMs: this.options.probeDelayMs,
      };
    }
    const streak = recordAttempt(this.streaks.get(nodeId) ?? NO_FAILURES, { jobId, succeeded });
    if (streak.failures === 0) {
      this.streaks.delete(nodeId);
      return null;
    }
    if (warrantsQuarantine(streak, this.options.quarantineAfter) && !this.of(nodeId)?.quarantined) {
      this.streaks.delete(nodeId);
      return {
        type: 'QuarantineNode',
        consecutiveFailures: streak.failures,
        failedJobs: streak.jobs,
        probeDelayMs: this.options.probeDelayMs,
      };
    }
    this.streaks.set(nodeId, streak);
    return null;
  }
}

export const schedulerContext = (causationId: string, correlationId: string): CommandContext => ({
  tenant: SYSTEM_TENANT,
  causationId,
  correlationId,
  actor: 'scheduler',
});
