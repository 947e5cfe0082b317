export * from './servers';
export * from './test-database';
