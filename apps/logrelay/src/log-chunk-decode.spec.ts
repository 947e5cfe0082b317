import { createSubjects, ErrorCodes } from '@gantry/contracts';
import { decodeLogChunk, jobsOf } from './log-chunk-decode';

const subjects = createSubjects('t_relay');
const aChunk = (overrides: Record<string, unknown> = {}) => ({
  tenant: 'acme',
  jobId: 'j-1',
  attempt: 1,
  rank: 0,
  leaseEpoch: 1,
  seq: 0,
  stream: 'stdout',
  data: 'hello\n',
  at: '2026-11-23T10:00:00.000Z',
  ...overrides,
});
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe('decoding a log chunk', () => {
  it('accepts a valid chunk on its own subject', () => {
    const decoded = decodeLogChunk(subjects, subjects.log('acme', 'j-1', 1, 0), bytes(aChunk()));
    expect(decoded).toEqual({ ok: true, chunk: { ...aChunk(), eof: false } });
  });

  it.each([
    ['not JSON', new TextEncoder().encode('{"tenant":'), 'unparseable'],
    ['not UTF-8', new Uint8Array([0xff, 0xfe, 0x7b]), 'unparseable'],
    ['a missing seq', bytes(aChunk({ seq: undefined })), 'invalid-envelope'],
    ['an unknown field', bytes(aChunk({ colour: 'blue' })), 'invalid-envelope'],
    ['a negative seq', bytes(aChunk({ seq: -1 })), 'invalid-envelope'],
  ])('refuses %s as poison', (_name, data, reason) => {
    const decoded = decodeLogChunk(subjects, subjects.log('acme', 'j-1', 1, 0), data);
    expect(decoded).toMatchObject({
      ok: false,
      reason,
      error: { code: ErrorCodes.VALIDATION_FAILED },
    });
  });

  it.each([
    ['another tenant', subjects.log('globex', 'j-1', 1, 0)],
    ['another job', subjects.log('acme', 'j-2', 1, 0)],
    ['another rank', subjects.log('acme', 'j-1', 1, 1)],
  ])('refuses a chunk published on the subject of %s', (_name, subject) => {
    expect(decodeLogChunk(subjects, subject, bytes(aChunk()))).toMatchObject({
      ok: false,
      reason: 'invalid-envelope',
    });
  });
});

describe('whom to wake', () => {
  it('names each job of a batch once', () => {
    expect(
      jobsOf([
        { tenant: 'acme', jobId: 'j-1' },
        { tenant: 'acme', jobId: 'j-1' },
        { tenant: 'globex', jobId: 'j-1' },
      ]),
    ).toEqual([
      { tenant: 'acme', jobId: 'j-1' },
      { tenant: 'globex', jobId: 'j-1' },
    ]);
  });
});
