export * from './checkpoint';
export * from './errors';
export {
  prepareAppend,
  type NewEvent,
  type NewEventMetadata,
  type PreparedAppend,
  type PreparedEvent,
} from './envelopes';
export * from './event-store';
export {
  eventStoreMigrations,
  EVENTS_CHANNEL,
  CreateEventStore1763900000000,
  CreatePublisherCheckpoints1763900000001,
  AppendWithoutStreamsTable1763900000002,
} from './schema/migrations';
export { runMigrations, type MigrationClass } from './schema/run-migrations';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './publisher/backoff';
export { laneByStream } from './publisher/publish-plan';
export {
  EventPublisher,
  type EventPublisherOptions,
  type PublisherStatus,
} from './publisher/event-publisher';
export * from './command-processor';
export * from './visibility';
