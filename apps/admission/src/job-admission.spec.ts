import { ErrorCodes } from '@gantry/contracts';
import { JOB_STATES } from '@gantry/domain';
import { nextAdmissionStep, refusalOfRejectedJob, reservationOf } from './job-admission';

describe('nextAdmissionStep', () => {
  it.each([
    ['PENDING', 'reserve-and-admit'],
    ['ADMITTED', 'queue'],
    ['REJECTED', 'refused'],
    ['QUEUED', 'answer'],
    ['RUNNING', 'answer'],
    ['HELD', 'answer'],
    ['SUCCEEDED', 'ended'],
    ['FAILED', 'ended'],
    ['CANCELLED', 'ended'],
    ['DEAD_LETTER', 'ended'],
  ] as const)('%s -> %s', (state, step) => {
    expect(nextAdmissionStep(state)).toBe(step);
  });

  it('has a step for every state of the machine', () => {
    for (const state of JOB_STATES) expect(() => nextAdmissionStep(state)).not.toThrow();
  });

  it('refuses to answer for a job that does not exist', () => {
    expect(() => nextAdmissionStep('NONE')).toThrow(/missing/);
  });
});

describe('reservationOf', () => {
  it('holds every node of the gang: per-node resources times nodes', () => {
    expect(reservationOf({ nodes: 3, resources: { cpu: 2.5, memoryMiB: 512, gpu: 2 } })).toEqual({
      cores: 7.5,
      memoryMiB: 1536,
      gpus: 6,
    });
  });
});

describe('refusalOfRejectedJob', () => {
  it('answers the stored quota refusal with its numbers and the job id', () => {
    const details = { dimension: 'cores', usage: 4, request: 8, limit: 10, threshold: 9 };
    const err = refusalOfRejectedJob('job-1', {
      code: 'QUOTA_EXCEEDED',
      reason: 'over the cores quota',
      details,
    });
    expect(err.code).toBe(ErrorCodes.QUOTA_EXCEEDED);
    expect(err.message).toBe('over the cores quota');
    expect(err.details).toEqual({ ...details, jobId: 'job-1' });
  });
});
