import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  ErrorCodes,
  isGantryError,
  TENANT_PAUSE_HOLD_REASON,
  type EventEnvelope,
  type TenantBudget,
} from '@gantry/contracts';
import { roundMoney } from '@gantry/domain';
import { PeriodicTask } from '@gantry/messaging';
import { AlertsService } from './alerts.service';
import { budgetAsks, monthStartOf, stopsRunningJobs, type TenantSpendRow } from './budget-watch';
import {
  JOB_ADMISSION_DEPENDENCIES,
  JobAdmissionService,
  type JobAdmissionDependencies,
  type Origin,
} from './job-admission.service';

/** What the watch acts as: admission, on the tenant's behalf, correlated per pass. */
const WATCH_ACTOR = 'admission:budget-watch';
const WAITING_STATES = ['ADMITTED', 'BLOCKED', 'QUEUED'];
const RUNNING_STATES = ['LEASED', 'STAGING', 'RUNNING'];

interface SpendRow {
  tenant: string;
  budget: TenantBudget | null;
  paused: TenantSpendRow['paused'];
  spent: string | null;
  running: string | null;
}

/**
 * The kill switch's hands (B3). Every pass (2 s by default) it reads each budgeted or paused
 * tenant's spend from the projections and asks the tenant's stream to pause it at its budget (or
 * resume it when a month turns); then, for every paused tenant, holds its waiting jobs and, if it
 * chose so, cancels its running ones; for every resumed one, releases what the pause held. Each
 * step is idempotent and re-derived every pass from the projections, so a crash or a lost reply
 * only delays it by a pass.
 */
@Injectable()
export class BudgetWatchService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly passes = new PeriodicTask(() => this.pass());

  constructor(
    @Inject(JOB_ADMISSION_DEPENDENCIES) private readonly deps: JobAdmissionDependencies,
    @Inject(JobAdmissionService) private readonly admission: JobAdmissionService,
    @Inject(AlertsService) private readonly alerts: AlertsService,
  ) {}

  onApplicationBootstrap(): void {
    if (this.deps.pool) this.passes.start(this.deps.budgetWatchIntervalMs ?? 2_000);
  }

  onApplicationShutdown(): Promise<void> {
    return this.passes.stop();
  }

  /** One pass; public so tests can run it at the instant they choose. */
  async pass(): Promise<void> {
    const pool = this.deps.pool;
    if (!pool) return;
    const now = this.deps.clock();
    const { rows } = await pool.query<SpendRow>(
      `SELECT d.tenant, d.budget, d.paused,
              (SELECT sum(r.cost) FROM tenant_reservations r
                WHERE r.tenant = d.tenant AND r.released_at IS NOT NULL
                  AND r.released_at >= $2) AS spent,
              (SELECT sum(r.rate_per_hour * GREATEST(0, extract(epoch FROM $1 - j.started_at)) / 3600)
                 FROM tenant_reservations r
                 JOIN job_summary j ON j.tenant = r.tenant AND j.job_id = r.job_id
                WHERE r.tenant = d.tenant AND r.released_at IS NULL
                  AND j.state = 'RUNNING' AND j.started_at IS NOT NULL) AS running
         FROM tenant_directory d
        WHERE d.budget IS NOT NULL OR d.paused IS NOT NULL`,
      [now, monthStartOf(now)],
    );
    const spend: TenantSpendRow[] = rows.map((row) => ({
      tenant: row.tenant,
      budget: row.budget,
      paused: row.paused,
      spentThisMonth: Number(row.spent ?? 0),
      runningAccrued: Number(row.running ?? 0),
    }));
    const correlationId = `budget-watch-${randomUUID()}`;
    const origin = (tenant: string): Origin => ({
      tenant,
      causationId: null,
      correlationId,
      actor: WATCH_ACTOR,
    });
    const month = now.toISOString().slice(0, 7);
    for (const ask of budgetAsks(spend, now)) {
      if (ask.kind === 'warn') {
        await this.alerts.decide(
          {
            type: 'raise',
            kind: 'budget-warning',
            subject: `${ask.tenant}-${month}`,
            tenant: ask.tenant,
            severity: 'warning',
            message:
              `tenant ${ask.tenant} has spent ${roundMoney(ask.spend)} of its ${ask.budget} ` +
              `budget for ${month} (${Math.round((ask.spend / ask.budget) * 100)} %)`,
            details: { spend: roundMoney(ask.spend), budget: ask.budget, month },
          },
          correlationId,
        );
        continue;
      }
      const outcome = (await this.admission
        .onTenant(origin(ask.tenant), {
          command:
            ask.kind === 'pause'
              ? {
                  type: 'PauseTenant',
                  data: { id: ask.tenant, reason: 'budget', runningAccrued: ask.runningAccrued },
                }
              : { type: 'ResumeTenant', data: { id: ask.tenant, cause: 'new-month' } },
        })
        .catch(() => null)) as { appended?: readonly EventEnvelope[] } | null;
      const paused = outcome?.appended?.find((e) => e.type === 'TenantPaused');
      if (paused)
        await this.alerts.decide(
          {
            type: 'raise',
            kind: 'budget-exhausted',
            subject: `${ask.tenant}-${month}`,
            tenant: ask.tenant,
            severity: 'critical',
            message: `tenant ${ask.tenant} reached its budget for ${month} and is paused`,
            details: { ...paused.data, month },
          },
          correlationId,
        );
    }
    for (const row of spend.filter((r) => r.paused !== null))
      await this.enforcePause(origin(row.tenant), stopsRunningJobs(row));
    await this.releaseResumed(origin);
    await this.resolveLifted(spend, month, correlationId);
  }

  /** A budget alert of a tenant no longer paused (budget raised, admin resume) is over. */
  private async resolveLifted(
    spend: readonly TenantSpendRow[],
    month: string,
    correlationId: string,
  ): Promise<void> {
    const { rows } = await this.deps.pool!.query<{ tenant: string; subject: string }>(
      `SELECT tenant, subject FROM alerts WHERE open AND kind = 'budget-exhausted'`,
    );
    const paused = new Set(spend.filter((r) => r.paused !== null).map((r) => r.tenant));
    for (const row of rows) {
      if (paused.has(row.tenant)) continue;
      await this.alerts.decide(
        {
          type: 'resolve',
          kind: 'budget-exhausted',
          subject: row.subject,
          resolution: row.subject.endsWith(month)
            ? `tenant ${row.tenant} resumed`
            : `a new month began`,
        },
        correlationId,
      );
    }
  }

  private async enforcePause(origin: Origin, stopRunning: boolean): Promise<void> {
    const states = stopRunning ? [...WAITING_STATES, ...RUNNING_STATES] : WAITING_STATES;
    const { rows } = await this.deps.pool!.query<{ job_id: string; state: string }>(
      `SELECT job_id, state FROM job_summary WHERE tenant = $1 AND state = ANY($2) LIMIT 1000`,
      [origin.tenant, states],
    );
    for (const row of rows) {
      const [verb, type, data] = WAITING_STATES.includes(row.state)
        ? ([
            'hold',
            'HoldJob',
            { jobId: row.job_id, reason: TENANT_PAUSE_HOLD_REASON, heldBy: WATCH_ACTOR },
          ] as const)
        : ([
            'cancel',
            'CancelJob',
            { jobId: row.job_id, reason: 'tenant paused at its budget', requestedBy: WATCH_ACTOR },
          ] as const);
      await this.tolerateMovedOn(this.admission.controller(verb, type, data, origin));
    }
  }

  private async releaseResumed(origin: (tenant: string) => Origin): Promise<void> {
    const { rows } = await this.deps.pool!.query<{ tenant: string; job_id: string }>(
      `SELECT j.tenant, j.job_id FROM job_summary j
         JOIN tenant_directory d ON d.tenant = j.tenant
        WHERE j.state = 'HELD' AND j.reason = $1 AND d.paused IS NULL
        LIMIT 1000`,
      [TENANT_PAUSE_HOLD_REASON],
    );
    for (const row of rows)
      await this.tolerateMovedOn(
        this.admission.controller(
          'release',
          'ReleaseJob',
          { jobId: row.job_id, releasedBy: WATCH_ACTOR },
          origin(row.tenant),
        ),
      );
  }

  /** The job moved on since the projection saw it (ended, released by its tenant): nothing to do. */
  private async tolerateMovedOn(command: Promise<unknown>): Promise<void> {
    try {
      await command;
    } catch (err) {
      if (isGantryError(err) && err.code === ErrorCodes.ILLEGAL_TRANSITION) return;
      throw err;
    }
  }
}
