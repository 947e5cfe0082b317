import { GantryError, ErrorCodes } from './errors';
import {
  SubjectTokenSchema,
  TENANT_ID_PATTERN,
  SYSTEM_TENANT,
  parseStreamId,
  type StreamId,
} from './ids';

/**
 * The subject catalogue: the only code in Gantry that builds NATS subject strings
 * (ARCHITECTURE.md, "Subjects"). The namespace is `gantry` in production; tests pass their own
 * so that runs sharing one nats-server never see each other's traffic.
 *
 *   commands  <ns>.cmd.<service>.<verb>
 *   leader    <ns>.leader.<service>.<verb>   (answered by the service's leader only)
 *   events    <ns>.evt.<tenant>.<aggregate>.<id>.<EventType>
 *   logs      <ns>.log.<tenant>.<jobId>.<attempt>.<rank>
 *   log wake  <ns>.log-committed.<tenant>.<jobId>   (core NATS)
 *   agents    <ns>.node.<nodeId>.<kind>
 *   dead      <ns>.dlq.<consumer>
 */
export const DEFAULT_NAMESPACE = 'gantry';

const token = (what: string, value: string | number): string => {
  const text = String(value);
  const parsed = SubjectTokenSchema.safeParse(text);
  if (!parsed.success) {
    throw new GantryError(
      ErrorCodes.INVALID_SUBJECT_TOKEN,
      `invalid ${what} for a subject: ${JSON.stringify(text)}`,
      {
        details: { what, value: text },
      },
    );
  }
  return text;
};

/** Attempts and ranks are counters: a '-1' would be a legal token but a meaningless address. */
const counterToken = (what: string, value: number): string => {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new GantryError(
      ErrorCodes.INVALID_SUBJECT_TOKEN,
      `invalid ${what} for a subject: ${value}`,
      {
        details: { what, value },
      },
    );
  }
  return String(value);
};

const tenantToken = (tenant: string): string => {
  if (tenant !== SYSTEM_TENANT && !TENANT_ID_PATTERN.test(tenant)) {
    throw new GantryError(
      ErrorCodes.INVALID_SUBJECT_TOKEN,
      `invalid tenant for a subject: ${JSON.stringify(tenant)}`,
      {
        details: { what: 'tenant', value: tenant },
      },
    );
  }
  return tenant;
};

export type ServiceName =
  'gateway' | 'admission' | 'scheduler' | 'controller' | 'staging' | 'logrelay' | 'agent';

export interface SubjectCatalogue {
  readonly namespace: string;
  command(service: ServiceName, verb: string): string;
  /** All commands for one service, for its queue-group subscription. */
  commandsOf(service: ServiceName): string;
  /**
   * `<ns>.leader.<service>.<verb>`: a question only the service's leader can answer (it alone
   * holds the state). Core NATS without a queue group: every replica listens, only the leader
   * replies, so the asker always gets the leader's answer whichever replicas run.
   */
  leaderCommand(service: ServiceName, verb: string): string;
  event(tenant: string, streamId: StreamId, eventType: string): string;
  /** Every event: what the JetStream event stream captures. */
  allEvents(): string;
  eventsOfTenant(tenant: string): string;
  eventsOfAggregate(aggregate: string): string;
  /** One event type of one aggregate, every tenant: a consumer that needs only that fact. */
  eventsOfType(aggregate: string, eventType: string): string;
  eventsOfStream(tenant: string, streamId: StreamId): string;
  log(tenant: string, jobId: string, attempt: number, rank: number): string;
  logsOfJob(tenant: string, jobId: string): string;
  allLogs(): string;
  /**
   * Core NATS (no stream): the log relay's "chunks of this job are committed" wake-up for
   * followers. Outside `<ns>.log.>` so the LOGS stream never captures it.
   */
  logCommitted(tenant: string, jobId: string): string;
  node(nodeId: string, kind: string): string;
  allNodeTraffic(): string;
  /** One kind of agent traffic from every node (`<ns>.node.*.<kind>`): the scheduler's heartbeat inbox. */
  allNodeKind(kind: string): string;
  deadLetter(consumer: string): string;
  allDeadLetters(): string;
}

export const createSubjects = (namespace: string = DEFAULT_NAMESPACE): SubjectCatalogue => {
  const ns = token('namespace', namespace);
  return {
    namespace: ns,
    command: (service, verb) => `${ns}.cmd.${token('service', service)}.${token('verb', verb)}`,
    commandsOf: (service) => `${ns}.cmd.${token('service', service)}.*`,
    leaderCommand: (service, verb) =>
      `${ns}.leader.${token('service', service)}.${token('verb', verb)}`,
    event: (tenant, streamId, eventType) => {
      const { aggregate, id } = parseStreamId(streamId);
      return `${ns}.evt.${tenantToken(tenant)}.${token('aggregate', aggregate)}.${token('id', id)}.${token('event type', eventType)}`;
    },
    allEvents: () => `${ns}.evt.>`,
    eventsOfTenant: (tenant) => `${ns}.evt.${tenantToken(tenant)}.>`,
    eventsOfAggregate: (aggregate) => `${ns}.evt.*.${token('aggregate', aggregate)}.>`,
    eventsOfType: (aggregate, eventType) =>
      `${ns}.evt.*.${token('aggregate', aggregate)}.*.${token('event type', eventType)}`,
    eventsOfStream: (tenant, streamId) => {
      const { aggregate, id } = parseStreamId(streamId);
      return `${ns}.evt.${tenantToken(tenant)}.${token('aggregate', aggregate)}.${token('id', id)}.*`;
    },
    log: (tenant, jobId, attempt, rank) =>
      `${ns}.log.${tenantToken(tenant)}.${token('job id', jobId)}.${counterToken('attempt', attempt)}.${counterToken('rank', rank)}`,
    logsOfJob: (tenant, jobId) => `${ns}.log.${tenantToken(tenant)}.${token('job id', jobId)}.>`,
    allLogs: () => `${ns}.log.>`,
    logCommitted: (tenant, jobId) =>
      `${ns}.log-committed.${tenantToken(tenant)}.${token('job id', jobId)}`,
    node: (nodeId, kind) => `${ns}.node.${token('node id', nodeId)}.${token('kind', kind)}`,
    allNodeTraffic: () => `${ns}.node.>`,
    allNodeKind: (kind) => `${ns}.node.*.${token('kind', kind)}`,
    deadLetter: (consumer) => `${ns}.dlq.${token('consumer', consumer)}`,
    allDeadLetters: () => `${ns}.dlq.>`,
  };
};
