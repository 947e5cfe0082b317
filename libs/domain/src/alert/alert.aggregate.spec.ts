import { decideAlert, evolveAlert, initialAlertState, type AlertDecision } from './alert.aggregate';

const NOW = new Date('2026-11-01T10:00:00.000Z');
const raise: AlertDecision = {
  type: 'raise',
  kind: 'quota-drift',
  subject: 'acme',
  tenant: 'acme',
  severity: 'warning',
  message: 'drift',
  details: { dimension: 'cores', cached: 40, actual: 4 },
};
const resolve: AlertDecision = {
  type: 'resolve',
  kind: 'quota-drift',
  subject: 'acme',
  resolution: 'rebuilt',
};

describe('an alert (H3)', () => {
  it('is raised once while open, resolved once, and can fire again after', () => {
    const raised = decideAlert(initialAlertState(), raise, NOW);
    expect(raised).toEqual([
      {
        type: 'AlertRaised',
        data: {
          kind: 'quota-drift',
          subject: 'acme',
          tenant: 'acme',
          severity: 'warning',
          message: 'drift',
          details: { dimension: 'cores', cached: 40, actual: 4 },
          raisedAt: NOW.toISOString(),
        },
      },
    ]);
    const open = raised.reduce(evolveAlert, initialAlertState());
    expect(decideAlert(open, raise, NOW)).toEqual([]);
    const resolved = decideAlert(open, resolve, NOW);
    expect(resolved.map((e) => e.type)).toEqual(['AlertResolved']);
    const closed = resolved.reduce(evolveAlert, open);
    expect(decideAlert(closed, resolve, NOW)).toEqual([]);
    expect(decideAlert(closed, raise, NOW)).toHaveLength(1);
    expect(closed.timesRaised).toBe(1);
  });
});
