import { type Resources } from '../placement';
import { type CoreJob, type CoreNode } from './types';

export const T0 = Date.parse('2026-11-23T12:00:00.000Z');

export const res = (cpu: number, memoryMiB = 1_024, gpu = 0): Resources => ({
  cpu,
  memoryMiB,
  gpu,
});

export const node = (nodeId: string, overrides: Partial<CoreNode> = {}): CoreNode => ({
  nodeId,
  pools: ['cpu'],
  labels: {},
  capacity: res(4, 8_192),
  used: res(0, 0),
  ...overrides,
});

export const job = (jobId: string, overrides: Partial<CoreJob> = {}): CoreJob => ({
  tenant: 'acme',
  jobId,
  pool: 'cpu',
  nodes: 1,
  resources: res(1),
  priority: 0,
  enqueuedAt: T0 - 1_000,
  notBefore: null,
  expectedRuntimeSeconds: 60,
  ...overrides,
});

export { seededRandom as seeded } from '../sim/random';
