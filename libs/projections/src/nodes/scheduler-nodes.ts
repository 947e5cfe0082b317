import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { CreateSchedulerEstimates1765100000100 } from './scheduler-estimates';

/**
 * scheduler_nodes: the scheduler's view of its nodes (C1): pools, labels, capacity, what live
 * leases use, liveness. Unlike the event-fed projections this is soft state the scheduler writes
 * from heartbeats (at most once a second); it is rebuilt by the next heartbeats, not by a replay.
 * `GET /v1/nodepools` reads it.
 */
export const SCHEDULER_NODES_TABLE = 'scheduler_nodes';

export type SchedulerNodeStatus = 'ready' | 'lost';

export interface NodeResources {
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly gpu: number;
}

export interface SchedulerNodeRow {
  readonly nodeId: string;
  readonly pools: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly hostname: string;
  readonly capacity: NodeResources;
  readonly used: NodeResources;
  readonly runningLeases: number;
  readonly status: SchedulerNodeStatus;
  readonly lastSeenAt: Date;
  readonly updatedAt: Date;
  /** C9 standing, from the node's stream: see the node aggregate in @gantry/domain. */
  readonly standing: NodeStandingFlags;
}

export interface NodeStandingFlags {
  readonly cordoned: boolean;
  readonly draining: boolean;
  readonly drained: boolean;
  readonly quarantined: boolean;
}

export const NO_STANDING_FLAGS: NodeStandingFlags = {
  cordoned: false,
  draining: false,
  drained: false,
  quarantined: false,
};

/** The one thing the helpers need from pg: a Pool, a PoolClient or a Client. */
export interface Queryable {
  query<R extends Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: R[] }>;
}

export class CreateSchedulerNodes1763910000200 implements MigrationInterface {
  name = 'CreateSchedulerNodes1763910000200';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE scheduler_nodes (
        node_id        text PRIMARY KEY,
        pools          text[] NOT NULL,
        labels         jsonb NOT NULL DEFAULT '{}',
        hostname       text NOT NULL,
        capacity       jsonb NOT NULL,
        used           jsonb NOT NULL,
        running_leases integer NOT NULL DEFAULT 0,
        status         text NOT NULL CHECK (status IN ('ready', 'lost')),
        last_seen_at   timestamptz NOT NULL,
        updated_at     timestamptz NOT NULL
      )`);
    // The pools page groups nodes by pool.
    await queryRunner.query(
      'CREATE INDEX scheduler_nodes_pools ON scheduler_nodes USING gin (pools)',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE scheduler_nodes');
  }
}

/** C9: cordoned, draining, drained and quarantined, as `GET /v1/nodepools` shows them. */
export class AddSchedulerNodeStanding1765100000000 implements MigrationInterface {
  name = 'AddSchedulerNodeStanding1765100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE scheduler_nodes ADD COLUMN standing jsonb NOT NULL DEFAULT '{}'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE scheduler_nodes DROP COLUMN standing');
  }
}

export const schedulerNodesMigrations = [
  CreateSchedulerNodes1763910000200,
  AddSchedulerNodeStanding1765100000000,
  CreateSchedulerEstimates1765100000100,
];

/** Writes the given nodes (insert or replace), in one statement. */
export const upsertSchedulerNodes = async (
  db: Queryable,
  rows: readonly SchedulerNodeRow[],
): Promise<void> => {
  if (rows.length === 0) return;
  const payload = rows.map((row) => ({
    node_id: row.nodeId,
    pools: row.pools,
    labels: row.labels,
    hostname: row.hostname,
    capacity: row.capacity,
    used: row.used,
    running_leases: row.runningLeases,
    status: row.status,
    last_seen_at: row.lastSeenAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    standing: row.standing,
  }));
  await db.query(
    `INSERT INTO scheduler_nodes
       (node_id, pools, labels, hostname, capacity, used, running_leases, status, last_seen_at,
        updated_at, standing)
     SELECT r.node_id, ARRAY(SELECT jsonb_array_elements_text(r.pools)), r.labels, r.hostname,
            r.capacity, r.used, r.running_leases, r.status, r.last_seen_at, r.updated_at,
            r.standing
       FROM jsonb_to_recordset($1::jsonb) AS r(
         node_id text, pools jsonb, labels jsonb, hostname text, capacity jsonb, used jsonb,
         running_leases integer, status text, last_seen_at timestamptz, updated_at timestamptz,
         standing jsonb)
     ON CONFLICT (node_id) DO UPDATE SET
       pools = EXCLUDED.pools, labels = EXCLUDED.labels, hostname = EXCLUDED.hostname,
       capacity = EXCLUDED.capacity, used = EXCLUDED.used,
       running_leases = EXCLUDED.running_leases, status = EXCLUDED.status,
       last_seen_at = EXCLUDED.last_seen_at, updated_at = EXCLUDED.updated_at,
       standing = EXCLUDED.standing`,
    [JSON.stringify(payload)],
  );
};

interface NodeDbRow extends Record<string, unknown> {
  node_id: string;
  pools: string[];
  labels: Record<string, string>;
  hostname: string;
  capacity: NodeResources;
  used: NodeResources;
  running_leases: number;
  status: SchedulerNodeStatus;
  last_seen_at: Date;
  updated_at: Date;
  standing: Partial<NodeStandingFlags>;
}

/** Every node, optionally only those serving one pool; ordered by node id. */
export const readSchedulerNodes = async (
  db: Queryable,
  options: { readonly pool?: string } = {},
): Promise<SchedulerNodeRow[]> => {
  const { rows } = await db.query<NodeDbRow>(
    `SELECT node_id, pools, labels, hostname, capacity, used, running_leases, status,
            last_seen_at, updated_at, standing
       FROM scheduler_nodes
      WHERE $1::text IS NULL OR $1::text = ANY (pools)
      ORDER BY node_id`,
    [options.pool ?? null],
  );
  return rows.map((row) => ({
    nodeId: row.node_id,
    pools: row.pools,
    labels: row.labels,
    hostname: row.hostname,
    capacity: row.capacity,
    used: row.used,
    runningLeases: row.running_leases,
    status: row.status,
    lastSeenAt: new Date(row.last_seen_at),
    updatedAt: new Date(row.updated_at),
    standing: { ...NO_STANDING_FLAGS, ...row.standing },
  }));
};
