import { isTerminalState, parseSseBlock } from './gateway-client';

describe('parseSseBlock', () => {
  it('reads id, event and multi-line data', () => {
    expect(parseSseBlock('id: a1r0:3\nevent: log\ndata: {"x":1}\ndata: more')).toEqual({
      id: 'a1r0:3',
      event: 'log',
      data: '{"x":1}\nmore',
    });
  });

  it('skips comments and empty blocks', () => {
    expect(parseSseBlock(': ping')).toBeUndefined();
    expect(parseSseBlock('')).toBeUndefined();
  });

  it('keeps an end event without data', () => {
    expect(parseSseBlock('event: end')).toEqual({ id: '', event: 'end', data: '' });
  });
});

describe('isTerminalState', () => {
  it.each(['SUCCEEDED', 'FAILED', 'CANCELLED', 'DEAD_LETTER', 'REJECTED'])('%s ends', (s) =>
    expect(isTerminalState(s)).toBe(true),
  );
  it.each(['PENDING', 'QUEUED', 'RUNNING'])('%s does not', (s) =>
    expect(isTerminalState(s)).toBe(false),
  );
});
