import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { streamIdOf } from '@gantry/contracts';
import {
  DRIFT_ALERT_RATIO,
  usageDrift,
  usageOf,
  type Usage,
  type UsageDrift,
} from '@gantry/domain';
import {
  PostgresProjectionSink,
  TENANT_DIRECTORY_TABLE,
  API_KEYS_TABLE,
  TENANT_RESERVATIONS_TABLE,
  tenantDirectoryProjection,
} from '@gantry/projections';
import { PeriodicTask } from '@gantry/messaging';
import { AlertsService } from './alerts.service';
import {
  JOB_ADMISSION_DEPENDENCIES,
  JobAdmissionService,
  type JobAdmissionDependencies,
} from './job-admission.service';

export interface TenantReconciliation {
  readonly tenant: string;
  readonly drift: readonly UsageDrift[];
  /** Drift over DRIFT_ALERT_RATIO on some dimension: an alert was raised (or was open). */
  readonly alerted: boolean;
}

interface ProjectedRow {
  tenant: string;
  version: number | null;
  cores: number | null;
  memory_mib: string | null;
  gpus: string | null;
  jobs: string | null;
}

/**
 * B4's reconciler. Usage is a projection of the tenant streams (tenant_reservations): what
 * /v1/usage and the budget watch read. Admission itself always decides on the stream, so the
 * projection is the cache that can drift (a bug, a manual edit, a restore). Every pass compares
 * each tenant's projected usage with the stream's (folded incrementally, as admission decides on
 * it) when the projection has applied the stream up to its head; a projection that merely lags is
 * not drift, and is compared on a later pass. Any drift is corrected by projecting
 * the tenant's stream again; drift over 10 % also raises a `quota-drift` alert, resolved once the
 * correction is in.
 */
@Injectable()
export class UsageReconcilerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly passes = new PeriodicTask(() => this.reconcile());
  private readonly sink: PostgresProjectionSink | null;

  constructor(
    @Inject(JOB_ADMISSION_DEPENDENCIES) private readonly deps: JobAdmissionDependencies,
    @Inject(AlertsService) private readonly alerts: AlertsService,
    @Inject(JobAdmissionService) private readonly admission: JobAdmissionService,
  ) {
    this.sink = deps.pool
      ? new PostgresProjectionSink(deps.pool, tenantDirectoryProjection, deps.store)
      : null;
  }

  onApplicationBootstrap(): void {
    if (this.sink) this.passes.start(this.deps.reconcileIntervalMs ?? 10_000);
  }

  onApplicationShutdown(): Promise<void> {
    return this.passes.stop();
  }

  /** One pass over every tenant; public so tests (and an SRE's tool) can run one at will. */
  async reconcile(): Promise<TenantReconciliation[]> {
    const pool = this.deps.pool;
    if (!pool || !this.sink) return [];
    // One statement, one snapshot: the rows and the version they reflect agree.
    const { rows } = await pool.query<ProjectedRow>(
      `SELECT d.tenant, v.version, r.cores, r.memory_mib, r.gpus, r.jobs
         FROM tenant_directory d
         LEFT JOIN projection_stream_versions v
                ON v.projection = $1 AND v.stream_id = 'tenant-' || d.tenant
         LEFT JOIN (SELECT tenant, sum(cores) AS cores, sum(memory_mib) AS memory_mib,
                           sum(gpus) AS gpus, count(*) AS jobs
                      FROM tenant_reservations WHERE released_at IS NULL
                     GROUP BY tenant) r ON r.tenant = d.tenant`,
      [tenantDirectoryProjection.name],
    );
    const found: TenantReconciliation[] = [];
    for (const row of rows) {
      const projected: Usage = {
        cores: Math.round(Number(row.cores ?? 0) * 1e6) / 1e6,
        memoryMiB: Number(row.memory_mib ?? 0),
        gpus: Number(row.gpus ?? 0),
        concurrentJobs: Number(row.jobs ?? 0),
      };
      const truth = await this.admission.tenantState(row.tenant);
      // The projection has not applied the stream's latest events yet: lag, not drift. Compared
      // again on the next pass (a projection that never catches up is its own alarm, H3's lag).
      if (truth.version !== (row.version ?? 0)) continue;
      const actual =
        truth.state.status === 'ACTIVE' ? usageOf(truth.state.reservations) : usageOf({});
      const drift = usageDrift(projected, actual);
      if (drift.length === 0) continue;
      const alerted = drift.some((d) => d.drift > DRIFT_ALERT_RATIO);
      found.push({ tenant: row.tenant, drift, alerted });
      await this.correct(row.tenant, drift, alerted);
    }
    return found;
  }

  private async correct(
    tenant: string,
    drift: readonly UsageDrift[],
    alerted: boolean,
  ): Promise<void> {
    const correlationId = `reconcile-${randomUUID()}`;
    const worst = drift.reduce((a, b) => (b.drift > a.drift ? b : a));
    if (alerted)
      await this.alerts.decide(
        {
          type: 'raise',
          kind: 'quota-drift',
          subject: tenant,
          tenant,
          severity: 'warning',
          message:
            `tenant ${tenant}'s projected usage drifted from its stream: ${worst.dimension} ` +
            `shows ${worst.cached}, the stream says ${worst.actual} ` +
            `(${Math.round(worst.drift * 100)} % off, over the ${DRIFT_ALERT_RATIO * 100} % line)`,
          details: { drift: drift.map((d) => ({ ...d })) },
        },
        correlationId,
      );
    const replayed = await this.sink!.replayStream(streamIdOf('tenant', tenant), [
      { table: TENANT_RESERVATIONS_TABLE.name, where: { tenant } },
      { table: API_KEYS_TABLE.name, where: { tenant } },
      { table: TENANT_DIRECTORY_TABLE.name, where: { tenant } },
    ]);
    if (alerted)
      await this.alerts.decide(
        {
          type: 'resolve',
          kind: 'quota-drift',
          subject: tenant,
          resolution: `re-projected tenant-${tenant} from the store (${replayed} events)`,
        },
        correlationId,
      );
  }
}
