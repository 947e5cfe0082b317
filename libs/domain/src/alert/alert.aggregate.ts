import { type AlertEvent, type AlertKind } from '@gantry/contracts';

/**
 * One alert condition on one subject (H3): closed -> open on raise, open -> closed on resolve.
 * Raising an open alert decides nothing, so a condition seen on every pass of a watch is one
 * alert, not one per pass; resolving a closed one decides nothing either.
 */
export interface AlertState {
  readonly open: boolean;
  readonly raisedAt: string | null;
  readonly timesRaised: number;
}

export const initialAlertState = (): AlertState => ({
  open: false,
  raisedAt: null,
  timesRaised: 0,
});

export type AlertDecision =
  | {
      readonly type: 'raise';
      readonly kind: AlertKind;
      readonly subject: string;
      readonly tenant: string | null;
      readonly severity: 'info' | 'warning' | 'critical';
      readonly message: string;
      readonly details: Readonly<Record<string, unknown>>;
    }
  | {
      readonly type: 'resolve';
      readonly kind: AlertKind;
      readonly subject: string;
      readonly resolution: string;
    };

export const evolveAlert = (state: AlertState, event: AlertEvent): AlertState =>
  event.type === 'AlertRaised'
    ? { open: true, raisedAt: event.data.raisedAt, timesRaised: state.timesRaised + 1 }
    : { ...state, open: false };

export const decideAlert = (
  state: AlertState,
  decision: AlertDecision,
  now: Date,
): AlertEvent[] => {
  const at = now.toISOString();
  if (decision.type === 'raise') {
    if (state.open) return [];
    const { type: _type, ...alert } = decision;
    return [
      { type: 'AlertRaised', data: { ...alert, details: { ...alert.details }, raisedAt: at } },
    ];
  }
  if (!state.open) return [];
  return [
    {
      type: 'AlertResolved',
      data: {
        kind: decision.kind,
        subject: decision.subject,
        resolution: decision.resolution,
        resolvedAt: at,
      },
    },
  ];
};
