export * from './free-port';
export * from './service-process';
export * from './platform';
export * from './gateway-client';
