import {
  NO_EXPLANATION_RETAINED,
  type JobExplanation,
  type RetainedExplanation,
  type WaitingForView,
} from '@gantry/contracts';
import { type Explanation, type WaitingFor } from '@gantry/scheduling';

/**
 * The core's explanations as the API shows them (times as ISO strings, a node kept out for its
 * health named with its standing), and the bounded memory of the placements already made. Pure.
 */
export type NodeStandingName = 'lost' | 'cordoned' | 'draining' | 'quarantined';

const iso = (ms: number): string => new Date(ms).toISOString();

const waitingForView = (waiting: WaitingFor): WaitingForView => {
  switch (waiting.kind) {
    case 'backoff':
      return { kind: 'backoff', until: iso(waiting.until) };
    case 'reservation':
      return { kind: 'reservation', startsAt: iso(waiting.startsAt), nodes: [...waiting.nodes] };
    case 'capacity':
      return {
        kind: 'capacity',
        behind: waiting.behind
          ? { jobId: waiting.behind.jobId, startsAt: iso(waiting.behind.startsAt) }
          : null,
      };
    case 'never-fits':
      return { kind: 'never-fits', feasibleNodes: waiting.feasibleNodes };
    case 'not-considered':
      return { kind: 'not-considered' };
    default: {
      const unhandled: never = waiting;
      throw new Error(`no case for ${JSON.stringify(unhandled)}`);
    }
  }
};

export const explanationView = (
  explanation: Explanation,
  decidedAt: number,
  standingOf: (nodeId: string) => NodeStandingName | null,
): RetainedExplanation => ({
  jobId: explanation.jobId,
  retained: true,
  outcome: explanation.outcome,
  decidedAt: iso(decidedAt),
  queuePosition: explanation.queuePosition,
  tenantShare: explanation.tenantShare,
  policy: explanation.policy,
  weights: { ...explanation.weights },
  candidates: explanation.candidates.map((c) => ({
    nodeId: c.nodeId,
    terms: { ...c.terms },
    total: c.total,
    tieBreak: c.tieBreak,
  })),
  filtered: explanation.filtered.map((f) => ({
    nodeId: f.nodeId,
    filter: f.filter,
    standing: f.filter === 'health' ? standingOf(f.nodeId) : null,
  })),
  outsidePool: explanation.outsidePool,
  chosen: [...explanation.chosen],
  why: explanation.why,
  waitingFor: explanation.waitingFor ? waitingForView(explanation.waitingFor) : null,
});

export const notRetained = (jobId: string, because: string): JobExplanation => ({
  jobId,
  retained: false,
  why: `${NO_EXPLANATION_RETAINED}: ${because}`,
});

export interface DatedExplanation {
  readonly explanation: Explanation;
  /** Epoch ms of the pass that decided it. */
  readonly decidedAt: number;
}

/** What one kept explanation weighs: its node entries (a 1,000-node pool lists 1,000 of them). */
const weightOf = (explanation: Explanation): number =>
  1 + explanation.candidates.length + explanation.filtered.length;

/**
 * The last placements' explanations, least recently placed evicted first, at most `capacity` of
 * them and at most `maxNodeEntries` node entries in all: memory stays bounded however many jobs
 * the scheduler places and however large the pools. A job placed again (a retry) moves to the front.
 */
export class PlacedExplanations {
  private readonly entries = new Map<string, DatedExplanation>();
  private weight = 0;

  constructor(
    readonly capacity: number,
    readonly maxNodeEntries: number = Number.POSITIVE_INFINITY,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  remember(explanation: Explanation, decidedAt: number): void {
    this.forget(explanation.jobId);
    this.entries.set(explanation.jobId, { explanation, decidedAt });
    this.weight += weightOf(explanation);
    while (
      this.entries.size > 1 &&
      (this.entries.size > this.capacity || this.weight > this.maxNodeEntries)
    ) {
      this.forget(this.entries.keys().next().value as string);
    }
  }

  private forget(jobId: string): void {
    const known = this.entries.get(jobId);
    if (!known) return;
    this.entries.delete(jobId);
    this.weight -= weightOf(known.explanation);
  }

  get(jobId: string): DatedExplanation | undefined {
    return this.entries.get(jobId);
  }
}
