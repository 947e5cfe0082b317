import { type Pool } from 'pg';
import { type TenantQuotas } from '@gantry/contracts';
import { QUOTA_GUARD_RATIO, thresholdOf, type QuotaDimension } from '@gantry/domain';
import { type DimensionUsage, type UsageView } from './usage.schemas';

interface UsageRow {
  quotas: TenantQuotas | null;
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

/**
 * A tenant's usage against each quota, from the tenant directory (quotas) and the reservations
 * projection (what its unreleased jobs hold): the same numbers admission decides on, up to the
 * projection's lag.
 */
export class UsageReadModel {
  constructor(private readonly pool: Pick<Pool, 'query'>) {}

  async usage(tenant: string): Promise<UsageView> {
    const { rows } = await this.pool.query<UsageRow>(
      `SELECT d.quotas,
              r.cores, r.memory_mib, r.gpus, COALESCE(r.jobs, 0) AS jobs
         FROM (SELECT $1::text AS tenant) t
         LEFT JOIN tenant_directory d ON d.tenant = t.tenant
         LEFT JOIN (SELECT tenant, sum(cores) AS cores, sum(memory_mib) AS memory_mib,
                           sum(gpus) AS gpus, count(*) AS jobs
                      FROM tenant_reservations
                     WHERE tenant = $1 AND released_at IS NULL
                     GROUP BY tenant) r ON r.tenant = t.tenant`,
      [tenant],
    );
    const row = rows[0];
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
      dimensions: {
        cores: dimension(quotas.cores, used.cores),
        memoryMiB: dimension(quotas.memoryMiB, used.memoryMiB),
        gpus: dimension(quotas.gpus, used.gpus),
        concurrentJobs: dimension(quotas.concurrentJobs, used.concurrentJobs),
      },
    };
  }
}
