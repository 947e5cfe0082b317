export * from './placement';
export * from './core/types';
export * from './core/core';
export * from './core/estimate';
export * from './core/affinity';
export { seededHash } from './core/heap';
export * from './sim/simulator';
export * from './sim/random';
export * from './core/preemption';
