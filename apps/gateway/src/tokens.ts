import { type NatsConnection } from '@nats-io/transport-node';
import { type Pool } from 'pg';
import { type SubjectCatalogue } from '@gantry/contracts';
import { type PostgresEventStore } from '@gantry/event-store';

/** What the gateway is given: a connection to send commands on, and read access to projections. */
export interface GatewayDependencies {
  readonly nc: NatsConnection;
  readonly subjects: SubjectCatalogue;
  /** Reads job_summary and api_keys; the gateway writes nothing. */
  readonly pool: Pool;
  /** Only readStream: a job's history for the events route. */
  readonly store: Pick<PostgresEventStore, 'readStream'>;
  readonly adminToken: string | undefined;
  readonly commandTimeoutMs?: number;
}

export const GATEWAY_DEPENDENCIES = Symbol('GATEWAY_DEPENDENCIES');
