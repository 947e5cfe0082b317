/**
 * What a projector returns: plain data describing row changes, never SQL and never I/O, so the
 * projector stays a pure function of the event (CONVENTIONS.md #5) and the sink is the only code
 * that touches Postgres.
 *
 * Every op carries the version of the stream the event came from. The sink writes it into the
 * table's version column and refuses to let an older version overwrite a newer one, so applying
 * a stale or repeated op is a no-op even if it slipped past the sink's per-stream tracking.
 */
export type ProjectionValue = string | number | boolean | null;
export type ProjectionRow = Readonly<Record<string, ProjectionValue>>;

/** Insert the row, or replace its values when the stored row is older than `version`. */
export interface UpsertOp {
  readonly kind: 'upsert';
  readonly table: string;
  readonly key: ProjectionRow;
  readonly values: ProjectionRow;
  readonly version: number;
}

/** Change some columns of an existing row when it is older than `version`; nothing if absent. */
export interface UpdateOp {
  readonly kind: 'update';
  readonly table: string;
  readonly key: ProjectionRow;
  readonly set: ProjectionRow;
  readonly version: number;
}

export type ProjectionOp = UpsertOp | UpdateOp;

/**
 * The shape of one table a projection writes: the sink checks every op against it, so a typo in
 * a projector fails loudly instead of building SQL from an unknown identifier.
 */
export interface ProjectionTable {
  readonly name: string;
  readonly key: readonly string[];
  readonly columns: readonly string[];
  /** Holds the stream version of the last event applied to the row. */
  readonly versionColumn: string;
}
