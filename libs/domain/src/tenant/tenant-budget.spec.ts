import { ErrorCodes, type TenantEvent } from '@gantry/contracts';
import {
  decideTenant,
  evolveTenant,
  spendThisMonth,
  type TenantDecision,
  type TenantState,
} from './tenant.aggregate';
import { costOf, priceJob, runtimeSecondsOf } from './cost';
import {
  NOW,
  T0,
  created,
  given,
  refusalOf,
  release,
  released,
  reserve,
  reserved,
} from '../../test/tenant.builders';

/** Budgets, spend and the kill switch (B3) as "given events, when command, then events". */
const budgetSet = (monthly: number, onExhausted: 'finish' | 'stop' = 'finish'): TenantEvent => ({
  type: 'TenantBudgetSet',
  data: { id: 'acme', budget: { monthly, onExhausted }, setAt: T0 },
});
const pausedFor = (reason: 'budget' | 'admin'): TenantEvent => ({
  type: 'TenantPaused',
  data: { id: 'acme', reason, spend: 100, budget: 100, pausedAt: T0 },
});
const setBudget = (monthly: number, onExhausted: 'finish' | 'stop' = 'finish'): TenantDecision => ({
  command: { type: 'SetTenantBudget', data: { id: 'acme', budget: { monthly, onExhausted } } },
});
const then = (state: TenantState, events: readonly TenantEvent[]): TenantState =>
  events.reduce(evolveTenant, state);
const active = (state: TenantState) => {
  if (state.status !== 'ACTIVE') throw new Error('no tenant');
  return state;
};
const NEXT_MONTH = new Date('2026-12-01T00:00:01.000Z');

describe('the cost model (B3)', () => {
  const spec = {
    nodes: 2,
    resources: { cpu: 4, memoryMiB: 8_192, gpu: 1 },
    expectedRuntimeSeconds: 1_800,
  };
  const prices = { coreHour: 0.5, memoryGiBHour: 0.25, gpuHour: 3 };

  it('prices resources x nodes x expected runtime at the pool price', () => {
    // per node: 4 x 0.5 + 8 x 0.25 + 1 x 3 = 7 an hour; two nodes: 14; half an hour: 7.
    expect(priceJob(spec, prices)).toEqual({
      ratePerHour: 14,
      expectedRuntimeSeconds: 1_800,
      projectedCost: 7,
    });
  });

  it('assumes the max runtime, then an hour, when the job gives no expected runtime', () => {
    const { expectedRuntimeSeconds: _e, ...noEstimate } = spec;
    expect(priceJob({ ...noEstimate, maxRuntimeSeconds: 600 }, prices).projectedCost).toBe(
      costOf(14, 600),
    );
    expect(priceJob(noEstimate, prices).projectedCost).toBe(14);
  });

  it('makes a pool without prices free', () => {
    expect(priceJob(spec, undefined)).toMatchObject({ ratePerHour: 0, projectedCost: 0 });
  });

  it('bills each attempt from its start to its end, and not the queue or the backoff', () => {
    const at = (s: number) => new Date(Date.parse(T0) + s * 1_000).toISOString();
    const history = [
      { type: 'JobSubmitted', occurredAt: at(0) },
      { type: 'JobStarted', occurredAt: at(10) },
      { type: 'AttemptFailed', occurredAt: at(40) },
      { type: 'JobRetryScheduled', occurredAt: at(40) },
      { type: 'JobStarted', occurredAt: at(100) },
      { type: 'JobSucceeded', occurredAt: at(160) },
    ];
    expect(runtimeSecondsOf(history)).toBe(90);
    // A running attempt counts up to now when asked (accrual while it runs).
    expect(runtimeSecondsOf(history.slice(0, 5), new Date(Date.parse(at(130))))).toBe(60);
    expect(runtimeSecondsOf(history.slice(0, 5))).toBe(30);
  });
});

describe('the budget guard (B2, B3)', () => {
  it('refuses a job whose projected cost would pass the budget, with the numbers', () => {
    const state = given(
      created({}),
      budgetSet(100),
      reserved('a', { projectedCost: 20 }),
      released('a', 50),
      reserved('b', { projectedCost: 30 }),
    );
    // spent 50 + committed 30 = 80; 20 more fits exactly, 21 does not.
    expect(decideTenant(state, reserve('c', { projectedCost: 20 }), NOW)).toHaveLength(1);
    const refusal = refusalOf(state, reserve('c', { projectedCost: 21 }));
    expect(refusal.code).toBe(ErrorCodes.QUOTA_EXCEEDED);
    expect(refusal.details).toEqual({
      dimension: 'budget',
      usage: 80,
      request: 21,
      limit: 100,
      threshold: 100,
      jobId: 'c',
    });
    expect(refusal.message).toMatch(/monthly budget/);
  });

  it('counts a month from zero when the month turns', () => {
    const state = given(created({}), budgetSet(100), reserved('a'), released('a', 95));
    expect(refusalOf(state, reserve('b', { projectedCost: 10 })).code).toBe(
      ErrorCodes.QUOTA_EXCEEDED,
    );
    expect(decideTenant(state, reserve('b', { projectedCost: 10 }), NEXT_MONTH)).toHaveLength(1);
  });

  it('has no budget guard without a budget', () => {
    const state = given(created({}), reserved('a', { projectedCost: 1e9 }));
    expect(decideTenant(state, reserve('b', { projectedCost: 1e9 }), NOW)).toHaveLength(1);
  });
});

describe('actual cost (B3)', () => {
  it('prices the real runtime at the rate locked at admission, once', () => {
    const state = given(created({}), reserved('a', { ratePerHour: 12, projectedCost: 12 }));
    const events = decideTenant(state, release('a', 900), NOW);
    expect(events).toEqual([
      {
        type: 'JobCapacityReleased',
        data: {
          id: 'acme',
          jobId: 'a',
          runtimeSeconds: 900,
          cost: 3,
          releasedAt: NOW.toISOString(),
        },
      },
    ]);
    const after = then(state, events);
    expect(spendThisMonth(active(after), NOW)).toBe(3);
    // A redelivered end is not billed again.
    expect(decideTenant(after, release('a', 900), NOW)).toEqual([]);
  });

  it('adds a late release from a closed month to nothing', () => {
    const state = given(
      created({}),
      reserved('a'),
      reserved('x'),
      released('a', 5, '2026-12-02T00:00:00.000Z'),
    );
    const late = then(state, [released('x', 7, '2026-11-30T23:59:59.000Z')]);
    expect(active(late).reservations).toEqual({});
    expect(active(late).spend).toEqual({ month: '2026-12', amount: 5 });
  });
});

describe('the kill switch (B3)', () => {
  const budgetPause = (runningAccrued: number) => ({
    command: {
      type: 'PauseTenant' as const,
      data: { id: 'acme', reason: 'budget' as const, runningAccrued },
    },
  });

  it('auto-pauses when spend plus what running jobs accrued reaches the budget', () => {
    const state = given(created({}), budgetSet(100), reserved('a'), released('a', 60));
    expect(decideTenant(state, budgetPause(39), NOW)).toEqual([]);
    expect(decideTenant(state, budgetPause(40), NOW)).toEqual([
      {
        type: 'TenantPaused',
        data: {
          id: 'acme',
          reason: 'budget',
          spend: 100,
          budget: 100,
          pausedAt: NOW.toISOString(),
        },
      },
    ]);
  });

  it('refuses every new job while paused, saying why', () => {
    const state = given(created({}), budgetSet(100), pausedFor('budget'));
    const refusal = refusalOf(state, reserve('a'));
    expect(refusal.code).toBe(ErrorCodes.TENANT_PAUSED);
    expect(refusal.message).toMatch(/budget of 100/);
    expect(refusal.details).toMatchObject({ reason: 'budget', jobId: 'a' });
  });

  it('pauses once: a second pull changes nothing', () => {
    const state = given(created({}), budgetSet(100), pausedFor('budget'));
    expect(decideTenant(state, budgetPause(500), NOW)).toEqual([]);
  });

  it('resumes when the budget is raised past the spend, in the same decision', () => {
    const state = given(
      created({}),
      budgetSet(100),
      reserved('a'),
      released('a', 100),
      pausedFor('budget'),
    );
    const events = decideTenant(state, setBudget(200), NOW);
    expect(events.map((e) => e.type)).toEqual(['TenantBudgetSet', 'TenantResumed']);
    expect(
      decideTenant(then(state, events), reserve('b', { projectedCost: 50 }), NOW),
    ).toHaveLength(1);
    // Raising it to no more than the spend leaves the tenant paused.
    const stillOver = decideTenant(state, setBudget(100, 'stop'), NOW);
    expect(stillOver.map((e) => e.type)).toEqual(['TenantBudgetSet']);
  });

  it('lets an admin resume over budget without the watch pausing it again that month', () => {
    const state = given(
      created({}),
      budgetSet(100),
      reserved('a'),
      released('a', 100),
      pausedFor('budget'),
    );
    const resumed = decideTenant(
      state,
      { command: { type: 'ResumeTenant', data: { id: 'acme', cause: 'admin' } } },
      NOW,
    );
    expect(resumed).toEqual([
      {
        type: 'TenantResumed',
        data: { id: 'acme', cause: 'admin', overBudget: true, resumedAt: NOW.toISOString() },
      },
    ]);
    const after = then(state, resumed);
    expect(decideTenant(after, budgetPause(10), NOW)).toEqual([]);
    expect(decideTenant(after, budgetPause(0), NEXT_MONTH)).toEqual([]);
  });

  it('lifts a budget pause at the new month, but never an admin pause', () => {
    const newMonth = {
      command: { type: 'ResumeTenant' as const, data: { id: 'acme', cause: 'new-month' as const } },
    };
    const byBudget = given(
      created({}),
      budgetSet(100),
      reserved('a'),
      released('a', 100),
      pausedFor('budget'),
    );
    expect(decideTenant(byBudget, newMonth, NOW)).toEqual([]);
    expect(decideTenant(byBudget, newMonth, NEXT_MONTH).map((e) => e.type)).toEqual([
      'TenantResumed',
    ]);
    const byAdmin = given(created({}), pausedFor('admin'));
    expect(decideTenant(byAdmin, newMonth, NEXT_MONTH)).toEqual([]);
  });

  it('refuses a malformed budget and changes nothing', () => {
    const state = given(created({}));
    const refusal = refusalOf(state, setBudget(-5));
    expect(refusal.code).toBe(ErrorCodes.VALIDATION_FAILED);
  });
});
