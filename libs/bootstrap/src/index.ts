export * from './decide';
export * from './ensure-servers';
export { probeNats, probePostgres } from './probes';
export { formatEnsureReport, formatStatus, formatStopReport } from './report';
export {
  bootstrapPaths,
  DEFAULT_STATE_DIR,
  type BootstrapPaths,
  type BootstrapState,
  type StartedNats,
  type StartedPostgres,
} from './state';
export {
  natsUrl,
  postgresUrl,
  redactUrl,
  STANDARD_NATS_PORT,
  STANDARD_POSTGRES_PORT,
} from './urls';
