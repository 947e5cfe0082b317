import { isGantryError } from '@gantry/contracts';
import { decodeCursor, encodeCursor } from './cursor';

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return isGantryError(err) ? err.code : String(err);
  }
};

describe('job list cursor', () => {
  it('round-trips a position at microsecond precision, as URL-safe text', () => {
    const cursor = { submittedAt: '2026-11-23T14:20:47.123456Z', jobId: 'b0c1-uuid' };
    const encoded = encodeCursor(cursor);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(encoded)).toEqual(cursor);
  });

  it.each([
    ['not base64url', 'a+b/c='],
    ['not JSON', Buffer.from('nope').toString('base64url')],
    ['the wrong shape', Buffer.from(JSON.stringify({ s: 1, j: 'x' })).toString('base64url')],
    [
      'not a timestamp',
      Buffer.from(JSON.stringify({ s: "1' OR 1=1", j: 'x' })).toString('base64url'),
    ],
    ['too long', 'A'.repeat(2_000)],
    ['empty', ''],
  ])('refuses a cursor that is %s with VALIDATION_FAILED', (_name, raw) => {
    expect(codeOf(() => decodeCursor(raw))).toBe('VALIDATION_FAILED');
  });
});
