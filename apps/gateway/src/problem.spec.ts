import { ErrorCodes, GantryError } from '@gantry/contracts';
import { EdgeCodes, EdgeError, PROBLEM_CONTENT_TYPE, STATUS_BY_CODE, toProblem } from './problem';

describe('toProblem', () => {
  it.each([
    ['VALIDATION_FAILED', 400],
    ['NOT_FOUND', 404],
    ['ILLEGAL_TRANSITION', 409],
    ['TENANT_EXISTS', 409],
    ['FORBIDDEN', 403],
    ['QUOTA_EXCEEDED', 422],
    ['TIMEOUT', 503],
    ['UNAVAILABLE', 503],
    ['INTERNAL', 500],
  ] as const)('maps %s to %i', (code, status) => {
    const problem = toProblem(new GantryError(ErrorCodes[code], 'why'));
    expect(problem).toMatchObject({ status, code, detail: 'why' });
    expect(problem.type).toBe(`urn:gantry:problem:${code.toLowerCase().replace(/_/g, '-')}`);
  });

  it('has a status for every code of the contracts', () => {
    for (const code of Object.values(ErrorCodes)) expect(STATUS_BY_CODE[code]).toBeGreaterThan(0);
  });

  it('spreads the details as members, without letting them overwrite the standard ones', () => {
    const problem = toProblem(
      new GantryError(ErrorCodes.QUOTA_EXCEEDED, 'over quota', {
        retryable: true,
        details: { requestedCores: 8, limitCores: 4, status: 200, code: 'OK' },
      }),
    );
    expect(problem).toEqual({
      type: 'urn:gantry:problem:quota-exceeded',
      title: 'Unprocessable Content',
      status: 422,
      detail: 'over quota',
      code: 'QUOTA_EXCEEDED',
      retryable: true,
      requestedCores: 8,
      limitCores: 4,
    });
  });

  it('maps an edge refusal to its status', () => {
    expect(toProblem(new EdgeError(EdgeCodes.UNAUTHENTICATED, 'no key'))).toMatchObject({
      status: 401,
      code: 'UNAUTHENTICATED',
    });
  });

  it.each([
    [413, 'PAYLOAD_TOO_LARGE'],
    [415, 'UNSUPPORTED_MEDIA_TYPE'],
    [400, 'VALIDATION_FAILED'],
  ])("maps Fastify's %i to %s", (statusCode, code) => {
    const err = Object.assign(new Error('refused'), { statusCode });
    expect(toProblem(err)).toMatchObject({ status: statusCode, code });
  });

  it('says nothing of an unknown error', () => {
    const problem = toProblem(new Error('password=hunter2 at db.ts:12'));
    expect(problem).toMatchObject({ status: 500, code: 'INTERNAL', detail: 'internal error' });
    expect(JSON.stringify(problem)).not.toContain('hunter2');
  });

  it('names the media type of RFC 9457', () => {
    expect(PROBLEM_CONTENT_TYPE).toBe('application/problem+json');
  });
});
