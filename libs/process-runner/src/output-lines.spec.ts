import {
  LineSplitter,
  MAX_LINE_BYTES,
  type OutputChunk,
  OutputSequencer,
  utf8CutPoint,
} from './output-lines';

const split = (pieces: readonly (string | Buffer)[], maxBytes?: number): string[] => {
  const lines: string[] = [];
  const splitter = new LineSplitter((l) => lines.push(l), maxBytes);
  for (const p of pieces) splitter.push(typeof p === 'string' ? Buffer.from(p) : p);
  splitter.flush();
  return lines;
};

describe('LineSplitter', () => {
  it.each([
    ['one line', ['a\n'], ['a']],
    ['a line split across reads', ['he', 'll', 'o\nwor', 'ld\n'], ['hello', 'world']],
    ['several lines in one read', ['a\nb\nc\n'], ['a', 'b', 'c']],
    ['blank lines kept', ['a\n\n\nb\n'], ['a', '', '', 'b']],
    ['CRLF', ['a\r\nb\r\n'], ['a', 'b']],
    ['a partial last line flushed', ['a\nrest'], ['a', 'rest']],
    ['nothing', [], []],
  ])('%s', (_name, pieces, expected) => {
    expect(split(pieces)).toEqual(expected);
  });

  it('decodes a multi-byte character split between two reads', () => {
    const bytes = Buffer.from('naïve €\n');
    expect(split([bytes.subarray(0, 3), bytes.subarray(3, 8), bytes.subarray(8)])).toEqual([
      'naïve €',
    ]);
  });

  it('cuts a long line into chunks of at most the limit, losing nothing', () => {
    const long = 'x'.repeat(MAX_LINE_BYTES * 2 + 10);
    const lines = split([long.slice(0, 1000), long.slice(1000), '\nnext\n']);
    expect(lines.map((l) => l.length)).toEqual([MAX_LINE_BYTES, MAX_LINE_BYTES, 10, 4]);
    expect(lines.slice(0, 3).join('')).toBe(long);
  });

  it('keeps a line of exactly the limit whole', () => {
    expect(split(['y'.repeat(16) + '\n'], 16)).toEqual(['y'.repeat(16)]);
  });

  it('never cuts inside a UTF-8 sequence', () => {
    // 'ab' + '€' (3 bytes) x 4: a cut at 6 bytes would fall inside the second euro sign.
    const lines = split(['ab€€€€\n'], 6);
    expect(lines).toEqual(['ab€', '€€', '€']);
    expect(lines.every((l) => Buffer.byteLength(l) <= 6)).toBe(true);
  });

  it('utf8CutPoint backs up over continuation bytes only', () => {
    const euro = Buffer.from('€€'); // e2 82 ac e2 82 ac
    expect(utf8CutPoint(euro, 3)).toBe(3);
    expect(utf8CutPoint(euro, 4)).toBe(3);
    expect(utf8CutPoint(euro, 5)).toBe(3);
  });
});

describe('OutputSequencer', () => {
  it('numbers lines of both streams with one seq, from 1, in the order they were read', () => {
    const chunks: OutputChunk[] = [];
    let t = 1_000;
    const sequencer = new OutputSequencer(
      (c) => chunks.push(c),
      () => t++,
    );
    sequencer.push('stdout', Buffer.from('o1\no'));
    sequencer.push('stderr', Buffer.from('e1\n'));
    sequencer.push('stdout', Buffer.from('2\n'));
    sequencer.push('stderr', Buffer.from('tail without newline'));
    sequencer.flush();
    expect(chunks.map(({ stream, seq, line }) => [stream, seq, line])).toEqual([
      ['stdout', 1, 'o1'],
      ['stderr', 2, 'e1'],
      ['stdout', 3, 'o2'],
      ['stderr', 4, 'tail without newline'],
    ]);
    expect(chunks.map((c) => c.at.getTime())).toEqual([1000, 1001, 1002, 1003]);
    expect(sequencer.seq).toBe(4);
  });

  it('does not mix a partial line of one stream into the other', () => {
    const lines: string[] = [];
    const sequencer = new OutputSequencer((c) => lines.push(`${c.stream}:${c.line}`));
    sequencer.push('stdout', Buffer.from('half'));
    sequencer.push('stderr', Buffer.from('err\n'));
    sequencer.push('stdout', Buffer.from('-done\n'));
    expect(lines).toEqual(['stderr:err', 'stdout:half-done']);
  });
});
