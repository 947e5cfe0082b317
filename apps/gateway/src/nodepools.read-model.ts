import { type Pool } from 'pg';
import { NO_STANDING_FLAGS, type NodeStandingFlags } from '@gantry/projections';
import { type NodePoolView, type ResourceAmounts } from './nodepools.schemas';

interface NodeRow {
  node_id: string;
  pools: string[];
  labels: Record<string, string>;
  hostname: string;
  capacity: Partial<ResourceAmounts>;
  used: Partial<ResourceAmounts>;
  running_leases: number;
  status: 'ready' | 'lost';
  last_seen_at: Date | null;
  standing: Partial<NodeStandingFlags> | null;
}

interface DepthRow {
  pool: string;
  state: string;
  total: string;
  mine: string;
}

const amounts = (raw: Partial<ResourceAmounts> | null | undefined): ResourceAmounts => ({
  cpu: Number(raw?.cpu ?? 0),
  memoryMiB: Number(raw?.memoryMiB ?? 0),
  gpu: Number(raw?.gpu ?? 0),
});
const add = (a: ResourceAmounts, b: ResourceAmounts): ResourceAmounts => ({
  cpu: a.cpu + b.cpu,
  memoryMiB: a.memoryMiB + b.memoryMiB,
  gpu: a.gpu + b.gpu,
});
const ZERO: ResourceAmounts = { cpu: 0, memoryMiB: 0, gpu: 0 };

/**
 * Pools from the scheduler's node read model (capacity from heartbeats, use from live leases)
 * joined with queue depth from job_summary. A pool that has queued jobs but no node still shows:
 * "why is my job waiting?" is answered by a pool with nothing in it.
 */
export class NodePoolsReadModel {
  constructor(private readonly pool: Pool) {}

  async pools(tenant: string): Promise<NodePoolView[]> {
    const [nodes, depth] = await Promise.all([
      this.pool.query<NodeRow>(
        `SELECT node_id, pools, labels, hostname, capacity, used, running_leases, status, last_seen_at,
                standing
           FROM scheduler_nodes ORDER BY node_id`,
      ),
      this.pool.query<DepthRow>(
        `SELECT pool, state, count(*) AS total, count(*) FILTER (WHERE tenant = $1) AS mine
           FROM job_summary
          WHERE state IN ('QUEUED', 'LEASED', 'STAGING', 'RUNNING')
          GROUP BY pool, state`,
        [tenant],
      ),
    ]);
    const byName = new Map<string, NodePoolView>();
    const poolNamed = (name: string): NodePoolView => {
      let view = byName.get(name);
      if (!view) {
        view = {
          name,
          nodes: [],
          nodesReady: 0,
          nodesLost: 0,
          capacity: ZERO,
          used: ZERO,
          free: ZERO,
          queueDepth: 0,
          queuedForYou: 0,
          running: 0,
        };
        byName.set(name, view);
      }
      return view;
    };
    for (const row of nodes.rows) {
      const node = {
        id: row.node_id,
        hostname: row.hostname,
        status: row.status,
        labels: row.labels ?? {},
        capacity: amounts(row.capacity),
        used: amounts(row.used),
        runningLeases: row.running_leases,
        lastSeenAt: row.last_seen_at === null ? null : row.last_seen_at.toISOString(),
        ...NO_STANDING_FLAGS,
        ...row.standing,
      };
      for (const name of row.pools) {
        const view = poolNamed(name);
        view.nodes.push(node);
        if (node.status === 'ready') {
          view.nodesReady += 1;
          view.capacity = add(view.capacity, node.capacity);
          view.used = add(view.used, node.used);
        } else {
          view.nodesLost += 1;
        }
      }
    }
    for (const row of depth.rows) {
      const view = poolNamed(row.pool);
      if (row.state === 'QUEUED') {
        view.queueDepth += Number(row.total);
        view.queuedForYou += Number(row.mine);
      } else {
        view.running += Number(row.total);
      }
    }
    return [...byName.values()]
      .map((view) => ({
        ...view,
        free: {
          cpu: Math.max(0, view.capacity.cpu - view.used.cpu),
          memoryMiB: Math.max(0, view.capacity.memoryMiB - view.used.memoryMiB),
          gpu: Math.max(0, view.capacity.gpu - view.used.gpu),
        },
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}
