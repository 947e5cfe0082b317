import { bearerToken, isAdminToken, keyActor } from './auth';

describe('bearerToken', () => {
  it.each([
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['Bearer   gk_1.2  ', 'gk_1.2'],
  ])('reads %j', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['another scheme', 'Basic YWxhZGRpbjpvcGVu'],
    ['no token', 'Bearer '],
    ['two tokens', 'Bearer a b'],
    ['repeated header', ['Bearer a', 'Bearer b']],
    ['too long', `Bearer ${'x'.repeat(2_000)}`],
  ])('refuses %s', (_name, header) => {
    expect(bearerToken(header)).toBeNull();
  });
});

describe('isAdminToken', () => {
  it('accepts the admin token only', () => {
    expect(isAdminToken('s3cret', 's3cret')).toBe(true);
    expect(isAdminToken('s3cre', 's3cret')).toBe(false);
    expect(isAdminToken('s3cret-and-more', 's3cret')).toBe(false);
    expect(isAdminToken(null, 's3cret')).toBe(false);
  });

  it('admits nobody when no admin token is configured', () => {
    expect(isAdminToken('', undefined)).toBe(false);
    expect(isAdminToken('', '')).toBe(false);
    expect(isAdminToken('anything', undefined)).toBe(false);
  });
});

it('names a key actor as ADR 0009 does', () => {
  expect(keyActor('0123456789abcdef01234567')).toBe('key:0123456789abcdef01234567');
});
