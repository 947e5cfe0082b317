import { type JobEvent, JobSpecSchema } from '@gantry/contracts';
import { evolve, initialJobState, type JobState } from '@gantry/domain';
import { leaseMayStillCommit } from './orphan-sweep';

const AT = '2026-11-23T10:00:00.000Z';
const jobId = 'j-1';

const leased = (leaseEpoch: number): JobEvent => ({
  type: 'JobLeased',
  data: {
    jobId,
    attempt: leaseEpoch,
    leaseEpoch,
    nodes: [{ nodeId: 'n1', rank: 0 }],
    leaseExpiresAt: AT,
    leasedAt: AT,
  },
});
const failed = (leaseEpoch: number): JobEvent => ({
  type: 'AttemptFailed',
  data: {
    jobId,
    attempt: leaseEpoch,
    leaseEpoch,
    reason: 'exit 1',
    exitCodes: [1],
    cause: 'exited',
    failedAt: AT,
  },
});
const submitted: JobEvent = {
  type: 'JobSubmitted',
  data: {
    jobId,
    spec: JobSpecSchema.parse({ command: ['true'], resources: { cpu: 1, memoryMiB: 64 } }),
    idempotencyKey: null,
    submittedAt: AT,
  },
};

const jobAfter = (...events: JobEvent[]): JobState =>
  events.reduce(evolve, initialJobState({ tenant: 'acme', jobId }));

describe('leaseMayStillCommit', () => {
  it.each<[string, JobState, number, boolean]>([
    ['no such job', jobAfter(), 1, false],
    ['its lease is the live one', jobAfter(submitted, leased(1)), 1, true],
    ['its lease ended, no newer yet', jobAfter(submitted, leased(1), failed(1)), 1, false],
    ['a newer lease replaced it', jobAfter(submitted, leased(1), failed(1), leased(2)), 1, false],
    ['the history does not show its lease yet', jobAfter(submitted, leased(1)), 2, true],
  ])('%s', (_case, job, epoch, expected) => {
    expect(leaseMayStillCommit(job, epoch)).toBe(expected);
  });
});
