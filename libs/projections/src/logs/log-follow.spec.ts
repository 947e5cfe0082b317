import { ErrorCodes } from '@gantry/contracts';
import {
  decodeLogCursor,
  deliverContiguous,
  emptyLogCursor,
  encodeLogCursor,
  followComplete,
  type FollowedChunk,
  type LogCursor,
} from './log-follow';

const aChunk = (
  attempt: number,
  rank: number,
  seq: number,
  overrides: Partial<FollowedChunk> = {},
): FollowedChunk => ({
  attempt,
  rank,
  seq,
  stream: 'stdout',
  data: `a${attempt} r${rank} s${seq}\n`,
  at: `2026-11-23T10:00:00.${String(seq).padStart(6, '0')}Z`,
  eof: false,
  exitCode: null,
  ...overrides,
});

const cursorOf = (entries: Record<string, number>): LogCursor => new Map(Object.entries(entries));

describe('log cursor', () => {
  it('encodes every rank in (attempt, rank) order, whatever the insertion order', () => {
    const cursor = cursorOf({ '2.0': 3, '1.10': 7, '1.2': 41 });
    expect(encodeLogCursor(cursor)).toBe('1.2.41_1.10.7_2.0.3');
  });

  it('decodes what it encodes', () => {
    const cursor = cursorOf({ '1.0': 0, '1.1': 12, '3.1023': 99_999 });
    expect(decodeLogCursor(encodeLogCursor(cursor))).toEqual(cursor);
  });

  it('reads an empty cursor as the beginning', () => {
    expect(decodeLogCursor('')).toEqual(emptyLogCursor());
    expect(encodeLogCursor(emptyLogCursor())).toBe('');
  });

  it.each([
    ['garbage', 'hello'],
    ['a missing seq', '1.0'],
    ['attempt 0', '0.0.1'],
    ['a rank beyond the largest gang', '1.1024.1'],
    ['a negative seq', '1.0.-1'],
    ['a rank given twice', '1.0.1_1.0.2'],
    ['a trailing separator', '1.0.1_'],
    ['too long', Array.from({ length: 5_000 }, (_, r) => `1.${r % 1000}.1`).join('_')],
  ])('refuses %s with VALIDATION_FAILED', (_name, text) => {
    expect(() => decodeLogCursor(text)).toThrow(
      expect.objectContaining({ code: ErrorCodes.VALIDATION_FAILED }),
    );
  });
});

describe('delivering the contiguous prefix', () => {
  const seqs = (delivery: ReturnType<typeof deliverContiguous>) =>
    delivery.chunks.map(({ chunk }) => `${chunk.attempt}.${chunk.rank}.${chunk.seq}`);

  it('delivers from seq 0 and moves the cursor to the last one delivered', () => {
    const delivery = deliverContiguous(emptyLogCursor(), [aChunk(1, 0, 0), aChunk(1, 0, 1)]);
    expect(seqs(delivery)).toEqual(['1.0.0', '1.0.1']);
    expect(encodeLogCursor(delivery.cursor)).toBe('1.0.1');
  });

  it('holds back a chunk after a hole, and what follows it', () => {
    const delivery = deliverContiguous(cursorOf({ '1.0': 5 }), [
      aChunk(1, 0, 7),
      aChunk(1, 0, 8),
      aChunk(1, 1, 0),
    ]);
    expect(seqs(delivery)).toEqual(['1.1.0']);
    expect(encodeLogCursor(delivery.cursor)).toBe('1.0.5_1.1.0');
  });

  it('delivers the held chunks once the hole is filled', () => {
    const delivery = deliverContiguous(cursorOf({ '1.0': 5 }), [
      aChunk(1, 0, 7),
      aChunk(1, 0, 8),
      aChunk(1, 0, 6),
    ]);
    expect(seqs(delivery)).toEqual(['1.0.6', '1.0.7', '1.0.8']);
  });

  it('keeps each rank in seq order even when a later chunk has an earlier time', () => {
    const delivery = deliverContiguous(emptyLogCursor(), [
      aChunk(1, 0, 1, { at: '2026-11-23T09:00:00.000000Z' }),
      aChunk(1, 0, 0, { at: '2026-11-23T10:00:00.000000Z' }),
    ]);
    expect(seqs(delivery)).toEqual(['1.0.0', '1.0.1']);
  });

  it('drops what the cursor says was delivered, and duplicates', () => {
    const delivery = deliverContiguous(cursorOf({ '1.0': 1 }), [
      aChunk(1, 0, 0),
      aChunk(1, 0, 1),
      aChunk(1, 0, 2),
      aChunk(1, 0, 2),
    ]);
    expect(seqs(delivery)).toEqual(['1.0.2']);
  });

  it('gives each chunk the cursor as of itself, so resuming from any id repeats nothing', () => {
    const all = [aChunk(1, 0, 0), aChunk(1, 1, 0), aChunk(1, 0, 1), aChunk(1, 1, 1)];
    const first = deliverContiguous(emptyLogCursor(), all);
    expect(first.chunks.map((c) => c.cursor)).toEqual([
      '1.0.0',
      '1.0.0_1.1.0',
      '1.0.1_1.1.0',
      '1.0.1_1.1.1',
    ]);
    for (let i = 0; i < first.chunks.length; i++) {
      const resumed = deliverContiguous(decodeLogCursor(first.chunks[i]!.cursor), all);
      expect([...seqs(first).slice(0, i + 1), ...seqs(resumed)]).toEqual(seqs(first));
    }
  });
});

describe('when a follow is complete', () => {
  const done = { state: 'SUCCEEDED', attempt: 2, nodes: 2 };
  const eofs = [
    { attempt: 2, rank: 0, seq: 3 },
    { attempt: 2, rank: 1, seq: 5 },
  ];

  it.each([
    ['every rank of the final attempt had its eof delivered', done, { '2.0': 3, '2.1': 5 }, true],
    ['one rank still lacks its eof', done, { '2.0': 3, '2.1': 4 }, false],
    ['only an earlier attempt was delivered', done, { '1.0': 9, '1.1': 9 }, false],
    ['the job still runs', { ...done, state: 'RUNNING' }, { '2.0': 3, '2.1': 5 }, false],
    ['the job never ran', { state: 'REJECTED', attempt: 0, nodes: 1 }, {}, true],
  ])('%s', (_name, job, cursor, expected) => {
    expect(followComplete(job, eofs, cursorOf(cursor))).toBe(expected);
  });

  it('looks only at the filtered rank and attempt', () => {
    expect(followComplete(done, eofs, cursorOf({ '2.1': 5 }), { rank: 1 })).toBe(true);
    expect(followComplete(done, eofs, cursorOf({ '2.1': 5 }), { rank: 0 })).toBe(false);
    expect(
      followComplete(done, [{ attempt: 1, rank: 0, seq: 0 }], cursorOf({ '1.0': 0 }), {
        attempt: 1,
        rank: 0,
      }),
    ).toBe(true);
  });
});
