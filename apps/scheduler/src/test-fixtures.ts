import { type JobView } from './job-view';

/** Builders the scheduler's pure tests share: a job as the engine holds it, queued at T0. */
export const T0 = Date.parse('2026-11-23T12:00:00.000Z');

export const aSpec = (overrides: Record<string, unknown> = {}): NonNullable<JobView['spec']> =>
  ({
    command: ['true'],
    env: {},
    nodes: 1,
    resources: { cpu: 1, memoryMiB: 256, gpu: 0 },
    pool: 'cpu',
    labels: {},
    runtime: 'shell',
    priority: 100,
    retry: { maxAttempts: 1 },
    inputs: [],
    outputs: [],
    steps: [],
    ...overrides,
  }) as unknown as NonNullable<JobView['spec']>;

export const aQueuedJob = (jobId: string, overrides: Partial<JobView> = {}): JobView => ({
  tenant: 'acme',
  jobId,
  version: 3,
  spec: aSpec(),
  phase: 'queued',
  attempt: 0,
  leaseEpoch: 0,
  queuedAt: T0,
  notBefore: null,
  lease: null,
  cancelRequested: false,
  preemptRequested: false,
  ...overrides,
});
