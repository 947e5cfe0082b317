import { budgetAsks, monthStartOf, stopsRunningJobs, type TenantSpendRow } from './budget-watch';

const NOW = new Date('2026-11-20T12:00:00.000Z');
const row = (over: Partial<TenantSpendRow>): TenantSpendRow => ({
  tenant: 'acme',
  budget: { monthly: 100, onExhausted: 'finish' },
  paused: null,
  spentThisMonth: 0,
  runningAccrued: 0,
  ...over,
});

describe('the budget watch (B3)', () => {
  it('asks for a pause when ended plus running spend reaches the budget', () => {
    expect(budgetAsks([row({ spentThisMonth: 70, runningAccrued: 30 })], NOW)).toEqual([
      { kind: 'pause', tenant: 'acme', runningAccrued: 30 },
    ]);
  });

  it('warns from 80 % of the budget, and leaves a tenant below it alone', () => {
    expect(budgetAsks([row({ spentThisMonth: 80 })], NOW)).toEqual([
      { kind: 'warn', tenant: 'acme', spend: 80, budget: 100 },
    ]);
    expect(budgetAsks([row({ spentThisMonth: 79.9 })], NOW)).toEqual([]);
    expect(budgetAsks([row({ budget: null, spentThisMonth: 1e9 })], NOW)).toEqual([]);
  });

  it('asks a budget-paused tenant back at the turn of the month, never an admin-paused one', () => {
    const lastMonth = '2026-10-31T23:00:00.000Z';
    expect(
      budgetAsks(
        [row({ paused: { reason: 'budget', pausedAt: lastMonth }, spentThisMonth: 500 })],
        NOW,
      ),
    ).toEqual([{ kind: 'resume-new-month', tenant: 'acme' }]);
    expect(budgetAsks([row({ paused: { reason: 'admin', pausedAt: lastMonth } })], NOW)).toEqual(
      [],
    );
    expect(
      budgetAsks([row({ paused: { reason: 'budget', pausedAt: NOW.toISOString() } })], NOW),
    ).toEqual([]);
  });

  it("stops running jobs only when paused and the tenant chose 'stop'", () => {
    const paused = { reason: 'budget' as const, pausedAt: NOW.toISOString() };
    expect(stopsRunningJobs(row({ paused, budget: { monthly: 1, onExhausted: 'stop' } }))).toBe(
      true,
    );
    expect(stopsRunningJobs(row({ paused }))).toBe(false);
    expect(stopsRunningJobs(row({ budget: { monthly: 1, onExhausted: 'stop' } }))).toBe(false);
  });

  it('starts the month at midnight UTC on the 1st', () => {
    expect(monthStartOf(NOW).toISOString()).toBe('2026-11-01T00:00:00.000Z');
  });
});
