export * from './connection';
export * from './topology';
export * from './publish';
