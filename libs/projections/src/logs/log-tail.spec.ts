import { type FollowedChunk } from './log-follow';
import { countLineEnds, tailLines } from './log-tail';

let clock = 0;
const aChunk = (rank: number, seq: number, data: string, stream: 'stdout' | 'stderr' = 'stdout') =>
  ({
    attempt: 1,
    rank,
    seq,
    stream,
    data,
    at: `2026-11-23T10:00:00.${String(clock++).padStart(6, '0')}Z`,
    eof: false,
    exitCode: null,
  }) satisfies FollowedChunk;

describe('tail lines', () => {
  beforeEach(() => (clock = 0));

  it('puts lines cut across chunks back together', () => {
    const chunks = [aChunk(0, 0, 'hel'), aChunk(0, 1, 'lo\nwor'), aChunk(0, 2, 'ld\n')];
    expect(tailLines(chunks, { lines: 10, prefixRanks: false })).toBe('hello\nworld\n');
  });

  it('keeps only the last N lines, including an unfinished last one', () => {
    const chunks = [aChunk(0, 0, 'a\nb\nc\n'), aChunk(0, 1, 'd\ne')];
    expect(tailLines(chunks, { lines: 2, prefixRanks: false })).toBe('d\ne\n');
  });

  it('interleaves ranks by time and prefixes them for a gang', () => {
    const chunks = [aChunk(0, 0, 'r0 one\n'), aChunk(1, 0, 'r1 one\n'), aChunk(0, 1, 'r0 two\n')];
    expect(tailLines(chunks, { lines: 10, prefixRanks: true })).toBe(
      '[rank 0] r0 one\n[rank 1] r1 one\n[rank 0] r0 two\n',
    );
  });

  it('does not glue stdout and stderr of one rank into one line', () => {
    const chunks = [aChunk(0, 0, 'out '), aChunk(0, 1, 'err\n', 'stderr'), aChunk(0, 2, 'done\n')];
    expect(tailLines(chunks, { lines: 10, prefixRanks: false })).toBe('err\nout done\n');
  });

  it('drops the possibly cut first line of a stretch that does not start at seq 0', () => {
    const chunks = [aChunk(0, 4, 'tail of a line\nwhole\n')];
    expect(tailLines(chunks, { lines: 10, prefixRanks: false })).toBe('whole\n');
  });

  it('answers nothing for no chunks, and for eof chunks without data', () => {
    expect(tailLines([], { lines: 5, prefixRanks: false })).toBe('');
    expect(tailLines([aChunk(0, 0, '')], { lines: 5, prefixRanks: false })).toBe('');
  });

  it('counts line ends', () => {
    expect(countLineEnds([{ data: 'a\nb\n' }, { data: 'c' }, { data: '\n' }])).toBe(3);
  });
});
