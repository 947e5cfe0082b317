import { type LogChunk } from '@gantry/contracts';
import { LogChunkWriter, type Schedule } from './log-chunks';

const identity = { tenant: 'acme', jobId: 'j1', attempt: 1, rank: 0, leaseEpoch: 1 };

/** A writer whose timer fires only when the test says so, and whose publishes the test settles. */
const setup = (options: { maxBytes?: number } = {}) => {
  const published: LogChunk[] = [];
  let timer: (() => void) | undefined;
  const schedule: Schedule = (fn) => {
    timer = fn;
    return () => (timer = undefined);
  };
  const writer = new LogChunkWriter({
    identity,
    publish: async (chunk) => {
      published.push(chunk);
    },
    clock: () => new Date('2026-01-01T00:00:00Z'),
    schedule,
    ...options,
  });
  return { writer, published, fire: () => timer?.(), hasTimer: () => timer !== undefined };
};

describe('LogChunkWriter', () => {
  it('batches lines until the timer fires, then publishes one chunk', async () => {
    const { writer, published, fire, hasTimer } = setup();
    writer.line('stdout', 'a');
    writer.line('stdout', 'b');
    expect(hasTimer()).toBe(true);
    fire();
    await writer.finish(0);
    expect(published.map((c) => [c.seq, c.data, c.eof])).toEqual([
      [0, 'a\nb\n', false],
      [1, '', true],
    ]);
    expect(published[1]).toMatchObject({ exitCode: 0, ...identity });
  });

  it('starts a new chunk when the stream changes', async () => {
    const { writer, published } = setup();
    writer.line('stdout', 'out');
    writer.line('stderr', 'err');
    await writer.finish(2);
    expect(published.map((c) => [c.seq, c.stream, c.data, c.eof, c.exitCode])).toEqual([
      [0, 'stdout', 'out\n', false, undefined],
      [1, 'stderr', 'err\n', true, 2],
    ]);
  });

  it('flushes as soon as a chunk reaches the size limit, without waiting for the timer', async () => {
    const { writer, published } = setup({ maxBytes: 8 });
    writer.line('stdout', '1234');
    writer.line('stdout', '567');
    writer.line('stdout', 'x');
    await writer.finish(0);
    expect(published.map((c) => c.data)).toEqual(['1234\n567\n', 'x\n']);
    expect(published.map((c) => c.seq)).toEqual([0, 1]);
  });

  it('publishes one at a time in seq order even when acks are slow', async () => {
    const order: string[] = [];
    const releases: (() => void)[] = [];
    const writer = new LogChunkWriter({
      identity,
      publish: (chunk) =>
        new Promise<void>((resolve) => {
          order.push(`start ${chunk.seq}`);
          releases.push(() => {
            order.push(`ack ${chunk.seq}`);
            resolve();
          });
        }),
      schedule: () => () => undefined,
    });
    writer.line('stdout', 'a');
    writer.flush();
    writer.line('stdout', 'b');
    writer.flush();
    const done = writer.finish(0);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['start 0']);
    while (releases.length > 0) {
      releases.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await done;
    expect(order).toEqual(['start 0', 'ack 0', 'start 1', 'ack 1', 'start 2', 'ack 2']);
  });

  it('keeps going after a chunk that cannot be published, and ignores lines after the end', async () => {
    const lost: number[] = [];
    const published: number[] = [];
    const writer = new LogChunkWriter({
      identity,
      publish: async (chunk) => {
        if (chunk.seq === 0) throw new Error('down');
        published.push(chunk.seq);
      },
      onPublishError: (chunk) => lost.push(chunk.seq),
      schedule: () => () => undefined,
    });
    writer.line('stdout', 'a');
    writer.flush();
    await writer.finish(1);
    writer.line('stdout', 'late');
    await writer.finish(1);
    expect(lost).toEqual([0]);
    expect(published).toEqual([1]);
  });
});
