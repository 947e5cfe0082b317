import { type TenantBudget } from '@gantry/contracts';

/**
 * The budget watch's rules (FEATURES.md B3), pure: from what the projections say of a tenant now,
 * what admission should ask of the tenant's stream. The stream decides again with its own spend,
 * so a watch that reads a lagging projection can only ask too early or too late, never wrongly.
 */
export interface TenantSpendRow {
  readonly tenant: string;
  readonly budget: TenantBudget | null;
  readonly paused: { readonly reason: 'budget' | 'admin'; readonly pausedAt: string } | null;
  /** The cost of the jobs that ended this month. */
  readonly spentThisMonth: number;
  /** What the jobs running now have accrued in their current attempt. */
  readonly runningAccrued: number;
}

/** At this share of its budget a tenant is warned (an alert), before the pause at 100 %. */
export const BUDGET_WARNING_RATIO = 0.8;

export type BudgetAsk =
  | { readonly kind: 'pause'; readonly tenant: string; readonly runningAccrued: number }
  | { readonly kind: 'resume-new-month'; readonly tenant: string }
  | {
      readonly kind: 'warn';
      readonly tenant: string;
      readonly spend: number;
      readonly budget: number;
    };

export const budgetAsks = (rows: readonly TenantSpendRow[], now: Date): BudgetAsk[] => {
  const month = now.toISOString().slice(0, 7);
  const asks: BudgetAsk[] = [];
  for (const row of rows) {
    if (row.paused) {
      if (row.paused.reason === 'budget' && row.paused.pausedAt.slice(0, 7) < month)
        asks.push({ kind: 'resume-new-month', tenant: row.tenant });
      continue;
    }
    if (!row.budget) continue;
    const spend = row.spentThisMonth + row.runningAccrued;
    if (spend >= row.budget.monthly)
      asks.push({ kind: 'pause', tenant: row.tenant, runningAccrued: row.runningAccrued });
    else if (spend >= row.budget.monthly * BUDGET_WARNING_RATIO)
      asks.push({ kind: 'warn', tenant: row.tenant, spend, budget: row.budget.monthly });
  }
  return asks;
};

/** While paused, the tenant's waiting jobs are held; its running ones stop only if it chose so. */
export const stopsRunningJobs = (row: Pick<TenantSpendRow, 'budget' | 'paused'>): boolean =>
  row.paused !== null && row.budget?.onExhausted === 'stop';

/** The first instant of the UTC month of `now`: where this month's spend starts. */
export const monthStartOf = (now: Date): Date =>
  new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
