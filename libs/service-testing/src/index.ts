export * from './commands';
export * from './test-bed';
