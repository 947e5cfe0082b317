export * from './attributes';
export * from './export-plan';
export * from './telemetry';
export * from './trace-context';
