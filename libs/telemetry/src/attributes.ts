/**
 * The one catalogue of Gantry's span and log attribute names (CONVENTIONS.md: "Telemetry
 * attribute names live in one catalogue"). Code that records an attribute imports the name from
 * here, so a dashboard query written against `gantry.job.id` keeps working after a refactor.
 *
 * Names are lower-case, dot-separated and namespaced under `gantry.`, following the
 * OpenTelemetry naming rules so they never collide with semantic-convention names.
 */
export const Attr = {
  /** A job's id, as in the job aggregate's stream id. */
  JobId: 'gantry.job.id',
  /** Which attempt of a job (1-based); retries start a new attempt. */
  JobAttempt: 'gantry.job.attempt',
  /** The tenant a message or request belongs to (`_system` for platform messages). */
  Tenant: 'gantry.tenant',
  /** An event-store stream id (`<aggregate>-<id>`). */
  StreamId: 'gantry.stream.id',
  /** The version of a stream an event was appended at, or that a command expected. */
  StreamVersion: 'gantry.stream.version',
  /** An event's position in the store's global order. */
  GlobalPosition: 'gantry.event.global_position',
  /** An event's type (`JobSubmitted`). */
  EventType: 'gantry.event.type',
  /** An event's id, which is also the JetStream msg-id used for dedupe. */
  EventId: 'gantry.event.id',
  /** A command's type (`SubmitJob`). */
  CommandType: 'gantry.command.type',
  /** The id shared by every message caused by one request. */
  CorrelationId: 'gantry.correlation.id',
  /** The id of the message that caused this one. */
  CausationId: 'gantry.causation.id',
  /** A JetStream durable consumer's name. */
  Consumer: 'gantry.consumer',
  /** A JetStream stream's name (the NATS stream, not an event-store stream). */
  NatsStream: 'gantry.nats.stream',
  /** How many times JetStream has delivered this message. */
  DeliveryCount: 'gantry.nats.delivery_count',
  /** A projection's name. */
  Projection: 'gantry.projection',
  /** A worker node's id. */
  NodeId: 'gantry.node.id',
  /** A resource pool's name. */
  Pool: 'gantry.pool',
  /** A lease's epoch; a stale epoch is how a fenced-off node is recognised. */
  LeaseEpoch: 'gantry.lease.epoch',
  /** The number of a scheduling cycle. */
  SchedulingCycle: 'gantry.scheduler.cycle',
  /** A Gantry error's stable code (`QUOTA_EXCEEDED`). */
  ErrorCode: 'gantry.error.code',
  /** Whether a Gantry error may be retried. */
  ErrorRetryable: 'gantry.error.retryable',
} as const;

export type AttrName = (typeof Attr)[keyof typeof Attr];

/** Span attributes keyed by catalogue names only, so a typo fails to compile. */
export type GantryAttributes = Partial<Record<AttrName, string | number | boolean>>;
