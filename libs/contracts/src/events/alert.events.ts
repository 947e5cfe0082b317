import { z } from 'zod';
import { SubjectTokenSchema } from '../ids';
import { defineMessage, type MessageOf } from '../registry';

/**
 * Alerts (FEATURES.md H3): a condition an SRE or a tenant's admin should know of, raised and
 * resolved as events like every other change. One stream per condition and subject,
 * `alert-<kind>--<subject>`, so an alert already open is not raised twice, and its history shows
 * when it fired, what it saw and how it was resolved.
 */
const Timestamp = z.iso.datetime({ offset: true });

export const ALERT_KINDS = [
  /** The usage a projection shows drifted more than 10 % from the tenant stream's (B4). */
  'quota-drift',
  /** A tenant's spend passed 80 % of its monthly budget (B3). */
  'budget-warning',
  /** A tenant's spend reached its monthly budget and it was paused (B3). */
  'budget-exhausted',
] as const;
export const AlertKindSchema = z.enum(ALERT_KINDS);
export type AlertKind = z.infer<typeof AlertKindSchema>;

export const AlertSeveritySchema = z.enum(['info', 'warning', 'critical']);

export const AlertRaisedData = z.strictObject({
  kind: AlertKindSchema,
  /** What it is about: a tenant id, a pool, a consumer; part of the stream id. */
  subject: SubjectTokenSchema,
  /** The tenant it concerns, if one: a tenant's admin may be shown its own alerts. */
  tenant: z.string().max(63).nullable(),
  severity: AlertSeveritySchema,
  message: z.string().min(1).max(2_000),
  /** The numbers that tripped it. */
  details: z.record(z.string(), z.unknown()),
  raisedAt: Timestamp,
});
export const AlertRaised = defineMessage('AlertRaised', 1, AlertRaisedData);

export const AlertResolvedData = z.strictObject({
  kind: AlertKindSchema,
  subject: SubjectTokenSchema,
  resolution: z.string().min(1).max(2_000),
  resolvedAt: Timestamp,
});
export const AlertResolved = defineMessage('AlertResolved', 1, AlertResolvedData);

export const alertEventDefinitions = [AlertRaised, AlertResolved] as const;
export type AlertEvent = MessageOf<(typeof alertEventDefinitions)[number]>;

/** The stream of one alert condition on one subject. */
export const alertStreamKey = (kind: AlertKind, subject: string): string => `${kind}--${subject}`;
