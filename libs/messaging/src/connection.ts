import { connect, type NatsConnection } from '@nats-io/transport-node';

/** One place that opens NATS connections, so every process names itself and reconnects forever. */
export const connectNats = (url: string, name: string): Promise<NatsConnection> =>
  connect({
    servers: url,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: false,
  });
