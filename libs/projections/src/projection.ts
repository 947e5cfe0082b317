import { parseStreamId, type EventEnvelope } from '@gantry/contracts';
import { type ProjectionOp, type ProjectionTable } from './projection-op';

/**
 * A projection is a name, the aggregates whose streams it reads, the tables it owns, and a pure
 * projector from one event to row operations. The generic sink does everything else.
 */
export interface ProjectionDefinition {
  /** Stable: it keys the checkpoint and the per-stream versions. */
  readonly name: string;
  /** Only streams of these aggregates are tracked; events of other streams are skipped. */
  readonly aggregates: readonly string[];
  readonly tables: readonly ProjectionTable[];
  readonly project: (event: EventEnvelope) => readonly ProjectionOp[];
}

export const readsStreamOf = (definition: ProjectionDefinition, event: EventEnvelope): boolean =>
  definition.aggregates.includes(parseStreamId(event.metadata.streamId).aggregate);

/**
 * Where an event stands against what a projection has already applied from its stream
 * (ARCHITECTURE.md invariant 8). Versions are 1-based and gapless per stream, so anything at or
 * below the applied version is a redelivery, and anything beyond the next one means the bus
 * lost or reordered something that must be read back from the store first.
 */
export type StreamPosition =
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'next' }
  | { readonly kind: 'gap'; readonly fromVersion: number; readonly toVersion: number };

export const classifyStreamVersion = (
  appliedVersion: number,
  eventVersion: number,
): StreamPosition => {
  if (eventVersion <= appliedVersion) return { kind: 'duplicate' };
  if (eventVersion === appliedVersion + 1) return { kind: 'next' };
  return { kind: 'gap', fromVersion: appliedVersion + 1, toVersion: eventVersion - 1 };
};
