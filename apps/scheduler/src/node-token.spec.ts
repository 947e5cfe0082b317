import { isNodeTokenValid, nodeTokenFor, secretsEqual } from './node-token';

describe('node tokens', () => {
  it('accepts the token derived for that node only', () => {
    const token = nodeTokenFor('s3cret', 'node-1');
    expect(isNodeTokenValid('s3cret', 'node-1', token)).toBe(true);
    expect(isNodeTokenValid('s3cret', 'node-2', token)).toBe(false);
    expect(isNodeTokenValid('other', 'node-1', token)).toBe(false);
    expect(isNodeTokenValid('s3cret', 'node-1', `${token}x`)).toBe(false);
  });

  it('compares secrets of different lengths without throwing', () => {
    expect(secretsEqual('a', 'a')).toBe(true);
    expect(secretsEqual('a', 'ab')).toBe(false);
    expect(secretsEqual('', 'ab')).toBe(false);
  });
});
