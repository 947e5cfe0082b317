import { ErrorCodes, type CommandEnvelope, type GantryError } from '@gantry/contracts';
import { aCommandEnvelope } from '@gantry/service-testing';
import { JOB_COMMAND_VERBS, parseJobCommand } from './job-commands';
import { RetryLimiter } from './job-commands.service';

const anEnvelope = (
  type: string,
  data: Record<string, unknown>,
  metadata: Partial<CommandEnvelope['metadata']> = {},
): CommandEnvelope =>
  aCommandEnvelope(type, data, {
    tenant: 'acme',
    occurredAt: '2025-01-01T00:00:00.000Z',
    correlationId: 'corr-1',
    ...metadata,
  });

const refusal = (fn: () => unknown): GantryError => {
  try {
    fn();
  } catch (err) {
    return err as GantryError;
  }
  throw new Error('expected a refusal');
};

describe('parseJobCommand', () => {
  it('refuses an envelope whose type is not the one its subject takes', () => {
    const err = refusal(() =>
      parseJobCommand('AdmitJob', anEnvelope('CancelJob', { jobId: 'j1' })),
    );
    expect(err.code).toBe(ErrorCodes.VALIDATION_FAILED);
  });

  it('refuses data that does not match the schema', () => {
    const err = refusal(() =>
      parseJobCommand('StartAttempt', anEnvelope('StartAttempt', { jobId: 'j1', leaseEpoch: 0 })),
    );
    expect(err.code).toBe(ErrorCodes.VALIDATION_FAILED);
  });

  it('refuses a submission from the system pseudo-tenant', () => {
    const spec = {}; // never reached: the tenant is checked first
    const err = refusal(() =>
      parseJobCommand(
        'SubmitJob',
        anEnvelope('SubmitJob', { spec, idempotencyKey: null }, { tenant: '_system' }),
      ),
    );
    expect(err.code).toBe(ErrorCodes.VALIDATION_FAILED);
  });

  it('fills a missing cancel requester from the actor', () => {
    const command = parseJobCommand(
      'CancelJob',
      anEnvelope('CancelJob', { jobId: 'j1' }, { actor: 'key-7' }),
    );
    expect(command).toEqual({
      type: 'CancelJob',
      data: { jobId: 'j1', reason: '', requestedBy: 'key-7' },
    });
  });

  it('keeps a requester the sender named', () => {
    const command = parseJobCommand(
      'CancelJob',
      anEnvelope('CancelJob', { jobId: 'j1', requestedBy: 'ops' }, { actor: 'key-7' }),
    );
    expect(command.data).toMatchObject({ requestedBy: 'ops' });
  });
});

describe('JOB_COMMAND_VERBS', () => {
  it('names every verb in kebab-case, usable as a subject token', () => {
    for (const verb of Object.keys(JOB_COMMAND_VERBS)) expect(verb).toMatch(/^[a-z]+(-[a-z]+)*$/);
  });
});

describe("the controller's per-tenant retry limiter (D3)", () => {
  it('gives no floor within the burst, then spaces a storming tenant out, tenant by tenant', () => {
    const now = new Date('2026-11-01T10:00:00.000Z');
    const limiter = new RetryLimiter(() => now, { perSecond: 1, burst: 2 });
    const floors: (number | undefined)[] = [];
    for (let i = 0; i < 5; i += 1) {
      floors.push(limiter.floor('storm')?.getTime());
      limiter.scheduled('storm');
    }
    const t = now.getTime();
    expect(floors).toEqual([undefined, undefined, undefined, t + 1_000, t + 2_000]);
    expect(limiter.floor('calm')).toBeUndefined();
  });
});
