import { ErrorCodes, GantryError, type NodeEvent } from '@gantry/contracts';

/**
 * A node's standing (C9), on the stream `node-<id>`, written only by the scheduler. Pure: `decide`
 * answers a command from the state and the time; `evolve` folds the facts.
 *
 *   (unknown) --NodeEnrolled--> SCHEDULABLE
 *   SCHEDULABLE --NodeCordoned--> CORDONED            no new leases; running work goes on
 *   SCHEDULABLE | CORDONED --NodeDrainStarted--> DRAINING   cordoned, running work let finish
 *   DRAINING --NodeDrained--> DRAINED                 its last running lease ended
 *   CORDONED | DRAINING | DRAINED --NodeUncordoned--> SCHEDULABLE
 *
 * Quarantine is a second, independent flag, so an admin's cordon and the scheduler's quarantine
 * never undo each other:
 *   not quarantined --NodeQuarantined--> QUARANTINED (no new leases; one probe at a time once
 *     `probeAfter` has passed)
 *   QUARANTINED --NodeProbeFailed--> QUARANTINED (the next probe waits again)
 *   QUARANTINED --NodeQuarantineCleared (admin, or a probe that passed)--> not quarantined
 *
 * A node takes new leases only when it is enrolled, neither cordoned nor quarantined (save its
 * probe), and not lost (liveness is soft state, from heartbeats). Commands that would change
 * nothing decide nothing, so a repeated admin call is harmless.
 */
export interface NodeStanding {
  readonly nodeId: string;
  readonly enrolled: boolean;
  readonly cordoned: boolean;
  readonly draining: boolean;
  /** Draining and its running work has finished. */
  readonly drained: boolean;
  readonly quarantined: boolean;
  /** Epoch ms from which a quarantined node takes one probe lease; null when not quarantined. */
  readonly probeAfter: number | null;
}

export type NodeStandingCommand =
  | { readonly type: 'CordonNode'; readonly reason: string }
  | { readonly type: 'DrainNode'; readonly reason: string }
  | { readonly type: 'UncordonNode' }
  | { readonly type: 'ClearNode' }
  /** The scheduler saw a draining node hold no lease any more. */
  | { readonly type: 'MarkDrained'; readonly runningLeases: number }
  | {
      readonly type: 'QuarantineNode';
      readonly consecutiveFailures: number;
      readonly failedJobs: readonly string[];
      readonly probeDelayMs: number;
    }
  /** A probe attempt (one that ran on the node while it was quarantined) ended. */
  | {
      readonly type: 'RecordProbe';
      readonly jobId: string;
      readonly passed: boolean;
      readonly probeDelayMs: number;
    };

export const initialNodeStanding = (nodeId: string): NodeStanding => ({
  nodeId,
  enrolled: false,
  cordoned: false,
  draining: false,
  drained: false,
  quarantined: false,
  probeAfter: null,
});

export const evolveNode = (state: NodeStanding, event: NodeEvent): NodeStanding => {
  switch (event.type) {
    case 'NodeEnrolled':
      return { ...state, enrolled: true };
    case 'NodeLost':
      return state;
    case 'NodeCordoned':
      return { ...state, cordoned: true };
    case 'NodeDrainStarted':
      return { ...state, cordoned: true, draining: true, drained: false };
    case 'NodeDrained':
      return { ...state, drained: true };
    case 'NodeUncordoned':
      return { ...state, cordoned: false, draining: false, drained: false };
    case 'NodeQuarantined':
      return { ...state, quarantined: true, probeAfter: Date.parse(event.data.probeAfter) };
    case 'NodeProbeFailed':
      return { ...state, probeAfter: Date.parse(event.data.probeAfter) };
    case 'NodeQuarantineCleared':
      return { ...state, quarantined: false, probeAfter: null };
    default: {
      const unhandled: never = event;
      throw new Error(`no case for ${JSON.stringify(unhandled)}`);
    }
  }
};

export const foldNode = (nodeId: string, events: readonly NodeEvent[]): NodeStanding =>
  events.reduce(evolveNode, initialNodeStanding(nodeId));

/** Takes new leases (liveness aside): what the placement core's cordoned/quarantined flags say. */
export const isSchedulable = (state: NodeStanding): boolean =>
  state.enrolled && !state.cordoned && !state.quarantined;

/** A quarantined node whose probe time has come: it may take one lease, the probe. */
export const isProbeDue = (state: NodeStanding, now: number): boolean =>
  state.enrolled &&
  !state.cordoned &&
  state.quarantined &&
  state.probeAfter !== null &&
  now >= state.probeAfter;

export const decideNode = (
  state: NodeStanding,
  command: NodeStandingCommand,
  now: Date,
): NodeEvent[] => {
  const at = now.toISOString();
  const nodeId = state.nodeId;
  if (!state.enrolled) {
    throw new GantryError(ErrorCodes.NOT_FOUND, `no node ${nodeId} has enrolled`, {
      details: { nodeId },
    });
  }
  switch (command.type) {
    case 'CordonNode':
      return state.cordoned
        ? []
        : [{ type: 'NodeCordoned', data: { nodeId, reason: command.reason, cordonedAt: at } }];
    case 'DrainNode':
      return state.draining
        ? []
        : [
            {
              type: 'NodeDrainStarted',
              data: { nodeId, reason: command.reason, drainStartedAt: at },
            },
          ];
    case 'UncordonNode':
      return state.cordoned ? [{ type: 'NodeUncordoned', data: { nodeId, uncordonedAt: at } }] : [];
    case 'ClearNode':
      return state.quarantined
        ? [
            {
              type: 'NodeQuarantineCleared',
              data: { nodeId, by: 'admin', probeJobId: null, clearedAt: at },
            },
          ]
        : [];
    case 'MarkDrained':
      return state.draining && !state.drained && command.runningLeases === 0
        ? [{ type: 'NodeDrained', data: { nodeId, drainedAt: at } }]
        : [];
    case 'QuarantineNode':
      return state.quarantined
        ? []
        : [
            {
              type: 'NodeQuarantined',
              data: {
                nodeId,
                consecutiveFailures: command.consecutiveFailures,
                failedJobs: command.failedJobs.slice(-64),
                quarantinedAt: at,
                probeAfter: new Date(now.getTime() + command.probeDelayMs).toISOString(),
              },
            },
          ];
    case 'RecordProbe':
      if (!state.quarantined) return [];
      return command.passed
        ? [
            {
              type: 'NodeQuarantineCleared',
              data: { nodeId, by: 'probe', probeJobId: command.jobId, clearedAt: at },
            },
          ]
        : [
            {
              type: 'NodeProbeFailed',
              data: {
                nodeId,
                jobId: command.jobId,
                failedAt: at,
                probeAfter: new Date(now.getTime() + command.probeDelayMs).toISOString(),
              },
            },
          ];
    default: {
      const unhandled: never = command;
      throw new Error(`no case for ${JSON.stringify(unhandled)}`);
    }
  }
};

/**
 * Consecutive failed attempts on one node (soft state: a scheduler restart starts counting
 * afresh, which errs toward keeping a node in service). Quarantine needs QUARANTINE_AFTER failures
 * in a row, from at least two distinct jobs: one tenant's broken job retried on the same node says
 * more about the job than the node. Any attempt that succeeds there ends the streak.
 */
export const QUARANTINE_AFTER = 3;

export interface FailureStreak {
  readonly failures: number;
  /** The failing jobs, oldest first (one entry per failed attempt). */
  readonly jobs: readonly string[];
}

export const NO_FAILURES: FailureStreak = { failures: 0, jobs: [] };

export const recordAttempt = (
  streak: FailureStreak,
  outcome: { readonly jobId: string; readonly succeeded: boolean },
): FailureStreak =>
  outcome.succeeded
    ? NO_FAILURES
    : { failures: streak.failures + 1, jobs: [...streak.jobs, outcome.jobId].slice(-64) };

export const warrantsQuarantine = (
  streak: FailureStreak,
  after: number = QUARANTINE_AFTER,
): boolean => streak.failures >= after && new Set(streak.jobs).size >= 2;

/**
 * The scheduler never quarantines more than half of any pool the node serves (as YARN and Spark
 * stop excluding nodes past a share of the cluster): when that many nodes look broken at once, the
 * work is the likelier culprit, and quarantining more would starve the pool. An admin's cordon is
 * not limited.
 *
 * Every node the pool has enrolled counts, live or not: a quarantined node whose agent is
 * restarting is still quarantined, and must not free its place under the cap for another. And the
 * pool keeps at least half of its nodes live and in service: while a node is lost, the failures
 * around it are likelier its fault (or the outage's) than the next node's.
 */
export interface PoolStanding {
  /** Nodes enrolled in the pool, whatever their liveness. */
  readonly nodes: number;
  /** Of those, the quarantined ones, live or not. */
  readonly quarantined: number;
  /** Of those, the ones live (heartbeating) and not quarantined. */
  readonly inService: number;
}

export const mayQuarantine = (pools: readonly PoolStanding[]): boolean =>
  pools.every(
    (pool) =>
      pool.quarantined + 1 <= Math.floor(pool.nodes / 2) &&
      pool.inService - 1 >= Math.ceil(pool.nodes / 2),
  );
