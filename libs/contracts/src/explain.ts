import { z } from 'zod';
import { SubjectTokenSchema } from './ids';

/**
 * The scheduler's answer to ExplainJob (C5), as it travels and as `GET /v1/jobs/{id}/explain`
 * shows it. For a placed job: every candidate node's score by term, with the weights, so anyone
 * can recompute the totals and see the winner win. For a waiting job: why each node of its pool
 * was filtered out or lost, its place in its tenant's queue and what it waits for. A job the
 * scheduler holds no explanation for says so (`retained: false`), with no other fields.
 */
const Timestamp = z.iso.datetime({ offset: true });

export const SCORE_TERMS = ['fit', 'load', 'health', 'locality', 'affinity', 'cost'] as const;

export const ScoreTermsSchema = z.strictObject({
  fit: z.number(),
  load: z.number(),
  health: z.number(),
  locality: z.number(),
  affinity: z.number(),
  cost: z.number(),
});
export type ScoreTerms = z.output<typeof ScoreTermsSchema>;

export const CandidateScoreSchema = z.strictObject({
  nodeId: SubjectTokenSchema,
  terms: ScoreTermsSchema,
  /** The weighted sum of the terms. */
  total: z.number(),
  /** The seeded tie-break: of equal totals, the higher wins (then the lower node id). */
  tieBreak: z.number(),
});

export const NODE_FILTERS = ['labels', 'health', 'capacity', 'resources', 'reservation'] as const;

export const FilteredNodeSchema = z.strictObject({
  nodeId: SubjectTokenSchema,
  /**
   * labels: lacks a required label; health: cannot take leases (see `standing`); capacity: too
   * small for the job even when empty; resources: not enough free now; reservation: the room is
   * held for the head-of-line job's reservation.
   */
  filter: z.enum(NODE_FILTERS),
  standing: z.enum(['lost', 'cordoned', 'draining', 'quarantined']).nullable(),
});

export const WaitingForSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('backoff'), until: Timestamp }),
  z.strictObject({
    kind: z.literal('reservation'),
    startsAt: Timestamp,
    nodes: z.array(SubjectTokenSchema),
  }),
  z.strictObject({
    kind: z.literal('capacity'),
    behind: z.strictObject({ jobId: SubjectTokenSchema, startsAt: Timestamp }).nullable(),
  }),
  z.strictObject({ kind: z.literal('never-fits'), feasibleNodes: z.number().int().min(0) }),
  z.strictObject({ kind: z.literal('not-considered') }),
]);
export type WaitingForView = z.output<typeof WaitingForSchema>;

export const RetainedExplanationSchema = z.strictObject({
  jobId: SubjectTokenSchema,
  retained: z.literal(true),
  outcome: z.enum(['placed', 'waiting']),
  /** When the placement pass that decided this ran. */
  decidedAt: Timestamp,
  /** 1-based place in its tenant's queue when the pass began. */
  queuePosition: z.number().int().min(0),
  /** The tenant's weighted dominant share in the job's pool (DRF) when the job was considered. */
  tenantShare: z.number(),
  policy: z.enum(['pack', 'spread']),
  weights: ScoreTermsSchema,
  /** Every node that passed the hard filters, best first. */
  candidates: z.array(CandidateScoreSchema),
  filtered: z.array(FilteredNodeSchema),
  /** Nodes outside the job's pool, counted, not listed. */
  outsidePool: z.number().int().min(0),
  /** The nodes it was placed on, rank 0 first (empty while waiting). */
  chosen: z.array(SubjectTokenSchema),
  why: z.string(),
  waitingFor: WaitingForSchema.nullable(),
});
export type RetainedExplanation = z.output<typeof RetainedExplanationSchema>;

export const NO_EXPLANATION_RETAINED = 'no explanation retained';

export const NotRetainedExplanationSchema = z.strictObject({
  jobId: SubjectTokenSchema,
  retained: z.literal(false),
  why: z.string(),
});

export const JobExplanationSchema = z.discriminatedUnion('retained', [
  RetainedExplanationSchema,
  NotRetainedExplanationSchema,
]);
export type JobExplanation = z.output<typeof JobExplanationSchema>;
