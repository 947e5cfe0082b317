import { type Pool } from 'pg';
import { type TenantBudget, type TenantQuotas } from '@gantry/contracts';
import {
  billingMonthOf,
  QUOTA_GUARD_RATIO,
  roundMoney,
  thresholdOf,
  type QuotaDimension,
} from '@gantry/domain';
import { type DimensionUsage, type SpendView, type UsageView } from './usage.schemas';

interface UsageRow {
  quotas: TenantQuotas | null;
  budget: TenantBudget | null;
  paused: SpendView['paused'];
  committed: number | null;
  storage_bytes: string | null;
  ingress: { month: string; bytes: number } | null;
  egress: { month: string; bytes: number } | null;
  cores: number | null;
  memory_mib: string | null;
  gpus: string | null;
  jobs: string;
}

const dimension = (limit: number | undefined, used: number): DimensionUsage => {
  if (limit === undefined) return { limit: null, used, threshold: null, headroom: null };
  const threshold = thresholdOf(limit);
  return { limit, used, threshold, headroom: Math.max(0, threshold - used) };
};

/** A month's counter as of `now`: last month's bytes are not this month's. */
const bytesThisMonth = (counter: { month: string; bytes: number } | null | undefined, now: Date) =>
  counter && counter.month === billingMonthOf(now) ? counter.bytes : 0;

/**
 * A tenant's usage against each quota, from the tenant directory (quotas) and the reservations
 * projection (what its unreleased jobs hold): the same numbers admission decides on, up to the
 * projection's lag.
 */
export class UsageReadModel {
  constructor(private readonly pool: Pick<Pool, 'query'>) {}

  async usage(tenant: string): Promise<UsageView> {
    const { rows } = await this.pool.query<UsageRow>(
      `SELECT d.quotas, d.budget, d.paused, r.committed, d.storage_bytes, d.ingress, d.egress,
              r.cores, r.memory_mib, r.gpus, COALESCE(r.jobs, 0) AS jobs
         FROM (SELECT $1::text AS tenant) t
         LEFT JOIN tenant_directory d ON d.tenant = t.tenant
         LEFT JOIN (SELECT tenant, sum(cores) AS cores, sum(memory_mib) AS memory_mib,
                           sum(gpus) AS gpus, count(*) AS jobs,
                           sum(projected_cost) AS committed
                      FROM tenant_reservations
                     WHERE tenant = $1 AND released_at IS NULL
                     GROUP BY tenant) r ON r.tenant = t.tenant`,
      [tenant],
    );
    const row = rows[0];
    const now = new Date();
    const quotas: TenantQuotas = row?.quotas ?? {};
    const used: Record<QuotaDimension, number> = {
      // Micro-cores, as admission rounds them: fractional cpus summed in floating point drift.
      cores: Math.round(Number(row?.cores ?? 0) * 1e6) / 1e6,
      memoryMiB: Number(row?.memory_mib ?? 0),
      gpus: Number(row?.gpus ?? 0),
      concurrentJobs: Number(row?.jobs ?? 0),
    };
    return {
      tenant,
      guardRatio: QUOTA_GUARD_RATIO,
      spend: await this.spend(tenant, row, now),
      gpusByPool: await this.gpusByPool(tenant, quotas),
      dimensions: {
        cores: dimension(quotas.cores, used.cores),
        memoryMiB: dimension(quotas.memoryMiB, used.memoryMiB),
        gpus: dimension(quotas.gpus, used.gpus),
        concurrentJobs: dimension(quotas.concurrentJobs, used.concurrentJobs),
        storageBytes: dimension(quotas.storageBytes, Number(row?.storage_bytes ?? 0)),
        ingressBytes: dimension(quotas.ingressBytes, bytesThisMonth(row?.ingress, now)),
        egressBytes: dimension(quotas.egressBytes, bytesThisMonth(row?.egress, now)),
      },
    };
  }

  private async gpusByPool(
    tenant: string,
    quotas: TenantQuotas,
  ): Promise<Record<string, DimensionUsage>> {
    const { rows } = await this.pool.query<{ pool: string; gpus: string }>(
      `SELECT pool, sum(gpus) AS gpus FROM tenant_reservations
        WHERE tenant = $1 AND released_at IS NULL AND pool IS NOT NULL AND gpus > 0
        GROUP BY pool`,
      [tenant],
    );
    const held = new Map(rows.map((r) => [r.pool, Number(r.gpus)]));
    const pools = new Set([...Object.keys(quotas.gpusByPool ?? {}), ...held.keys()]);
    return Object.fromEntries(
      [...pools].sort().map((p) => [p, dimension(quotas.gpusByPool?.[p], held.get(p) ?? 0)]),
    );
  }

  /**
   * The month so far: ended jobs' cost by day (the burndown), what running jobs accrue now, and
   * what admitted ones are projected to cost. The same sums admission's budget watch acts on.
   */
  private async spend(tenant: string, row: UsageRow | undefined, now: Date): Promise<SpendView> {
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const [days, running] = await Promise.all([
      this.pool.query<{ day: string; spent: number }>(
        `SELECT to_char(released_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, sum(cost) AS spent
           FROM tenant_reservations
          WHERE tenant = $1 AND released_at IS NOT NULL AND released_at >= $2
          GROUP BY 1 ORDER BY 1`,
        [tenant, monthStart],
      ),
      this.pool.query<{ accruing: number | null }>(
        `SELECT sum(r.rate_per_hour * GREATEST(0, extract(epoch FROM $2 - j.started_at)) / 3600)
                  AS accruing
           FROM tenant_reservations r
           JOIN job_summary j ON j.tenant = r.tenant AND j.job_id = r.job_id
          WHERE r.tenant = $1 AND r.released_at IS NULL
            AND j.state = 'RUNNING' AND j.started_at IS NOT NULL`,
        [tenant, now],
      ),
    ]);
    const budget = row?.budget ?? null;
    const spentByDay = new Map(days.rows.map((d) => [d.day, Number(d.spent)]));
    const burndown: SpendView['burndown'] = [];
    let cumulative = 0;
    for (let day = monthStart; day <= now; day = new Date(day.getTime() + 86_400_000)) {
      const key = day.toISOString().slice(0, 10);
      const spent = roundMoney(spentByDay.get(key) ?? 0);
      cumulative = roundMoney(cumulative + spent);
      burndown.push({
        day: key,
        spent,
        cumulative,
        remaining: budget ? roundMoney(budget.monthly - cumulative) : null,
      });
    }
    const accruing = roundMoney(Number(running.rows[0]?.accruing ?? 0));
    return {
      month: billingMonthOf(now),
      budget,
      spent: cumulative,
      accruing,
      committed: roundMoney(Number(row?.committed ?? 0)),
      remaining: budget ? roundMoney(budget.monthly - cumulative - accruing) : null,
      paused: row?.paused ?? null,
      burndown,
    };
  }
}
