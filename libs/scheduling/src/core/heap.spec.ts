import fc from 'fast-check';
import { Heap, IndexedHeap, seededHash } from './heap';

describe('heaps', () => {
  it('Heap pops in order and removeWhere keeps the rest in order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), fc.integer(), (values, cut) => {
        const heap = new Heap<number>((a, b) => a < b);
        for (const v of values) heap.push(v);
        heap.removeWhere((v) => v < cut);
        const out: number[] = [];
        while (heap.size > 0) out.push(heap.pop()!);
        expect(out).toEqual(values.filter((v) => v >= cut).sort((a, b) => a - b));
      }),
    );
  });

  it('Heap counts the items before any value as a sort would, holding it or not (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 50 })),
        fc.integer({ min: -1, max: 51 }),
        (values, probe) => {
          const heap = new Heap<number>((a, b) => a < b);
          for (const v of values) heap.push(v);
          expect(heap.countBefore(probe)).toBe(values.filter((v) => v < probe).length);
        },
      ),
    );
  });

  it('IndexedHeap stays ordered through updates and removals anywhere (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 100 }), fc.boolean())),
        (keys, ops) => {
          const items = keys.map((key) => ({ key, heapIndex: -1 }));
          const heap = new IndexedHeap<(typeof items)[number]>((a, b) => a.key < b.key);
          for (const item of items) heap.push(item);
          const live = new Set(items);
          for (const [i, key, remove] of ops) {
            const item = items[i % items.length]!;
            if (remove) {
              heap.remove(item);
              live.delete(item);
            } else {
              item.key = key;
              heap.update(item);
            }
          }
          const out: number[] = [];
          while (heap.size > 0) {
            const top = heap.peek()!;
            out.push(top.key);
            heap.remove(top);
          }
          expect(out).toEqual([...live].map((x) => x.key).sort((a, b) => a - b));
        },
      ),
    );
  });

  it('seededHash depends on the seed and the parts, not on chance', () => {
    expect(seededHash(1, 'job', 'node')).toBe(seededHash(1, 'job', 'node'));
    expect(seededHash(1, 'job', 'node')).not.toBe(seededHash(2, 'job', 'node'));
    expect(seededHash(1, 'jo', 'bnode')).not.toBe(seededHash(1, 'job', 'node'));
  });
});
