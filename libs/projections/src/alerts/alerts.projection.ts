import { alertEventDefinitions, type AlertEvent, type EventEnvelope } from '@gantry/contracts';
import { type ProjectionOp, type ProjectionTable } from '../projection-op';
import { type ProjectionDefinition } from '../projection';

/**
 * alerts (FEATURES.md H3): one row per alert condition and subject, open or resolved, with the
 * numbers that raised it last. What `GET /v1/admin/alerts` lists.
 */
export const ALERTS_TABLE: ProjectionTable = {
  name: 'alerts',
  key: ['stream_id'],
  columns: [
    'stream_id',
    'kind',
    'subject',
    'tenant',
    'severity',
    'message',
    'details',
    'open',
    'raised_at',
    'resolved_at',
    'resolution',
    'last_version',
  ],
  versionColumn: 'last_version',
};

const ALERT_EVENT_TYPES: ReadonlySet<string> = new Set(alertEventDefinitions.map((d) => d.type));

export const projectAlerts = (event: EventEnvelope): ProjectionOp[] => {
  if (!ALERT_EVENT_TYPES.has(event.type)) return [];
  const alert = { type: event.type, data: event.data } as AlertEvent;
  const { streamId: stream_id, streamVersion: version } = event.metadata;
  if (alert.type === 'AlertRaised') {
    const { kind, subject, tenant, severity, message, details, raisedAt } = alert.data;
    return [
      {
        kind: 'upsert',
        table: ALERTS_TABLE.name,
        key: { stream_id },
        version,
        values: {
          kind,
          subject,
          tenant,
          severity,
          message,
          details: JSON.stringify(details),
          open: true,
          raised_at: raisedAt,
          resolved_at: null,
          resolution: null,
        },
      },
    ];
  }
  return [
    {
      kind: 'update',
      table: ALERTS_TABLE.name,
      key: { stream_id },
      version,
      set: { open: false, resolved_at: alert.data.resolvedAt, resolution: alert.data.resolution },
    },
  ];
};

export const alertsProjection: ProjectionDefinition = {
  name: 'alerts',
  aggregates: ['alert'],
  tables: [ALERTS_TABLE],
  project: projectAlerts,
};

export interface AlertView {
  readonly kind: string;
  readonly subject: string;
  readonly tenant: string | null;
  readonly severity: string;
  readonly message: string;
  readonly details: Record<string, unknown>;
  readonly open: boolean;
  readonly raisedAt: string;
  readonly resolvedAt: string | null;
  readonly resolution: string | null;
}

/** Newest first; open ones only unless asked. */
export const readAlerts = async (
  pool: {
    query: (text: string, values: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;
  },
  options: { readonly openOnly: boolean; readonly limit: number },
): Promise<AlertView[]> => {
  const { rows } = await pool.query(
    `SELECT kind, subject, tenant, severity, message, details, open, raised_at, resolved_at, resolution
       FROM alerts WHERE ($1::boolean IS FALSE OR open) ORDER BY raised_at DESC LIMIT $2`,
    [options.openOnly, options.limit],
  );
  return rows.map((row) => ({
    kind: String(row['kind']),
    subject: String(row['subject']),
    tenant: (row['tenant'] as string | null) ?? null,
    severity: String(row['severity']),
    message: String(row['message']),
    details: row['details'] as Record<string, unknown>,
    open: Boolean(row['open']),
    raisedAt: (row['raised_at'] as Date).toISOString(),
    resolvedAt: row['resolved_at'] ? (row['resolved_at'] as Date).toISOString() : null,
    resolution: (row['resolution'] as string | null) ?? null,
  }));
};
