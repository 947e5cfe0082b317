export * from './servers';
export * from './test-database';
export * from './eventually';
