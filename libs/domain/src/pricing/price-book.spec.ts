import { ErrorCodes, isGantryError } from '@gantry/contracts';
import { decidePriceBook, evolvePriceBook, initialPriceBookState } from './price-book';

const NOW = new Date('2026-11-01T10:00:00.000Z');
const set = (pool: string, prices: Record<string, number>) =>
  ({ type: 'SetPoolPrices', data: { pool, prices } }) as Parameters<typeof decidePriceBook>[1];

describe('the price book (B3)', () => {
  it('sets a pool’s prices, unnamed resources free, and a repeat decides nothing', () => {
    const events = decidePriceBook(initialPriceBookState('gpu'), set('gpu', { gpuHour: 2.5 }), NOW);
    expect(events).toEqual([
      {
        type: 'PoolPricesSet',
        data: {
          pool: 'gpu',
          prices: { coreHour: 0, memoryGiBHour: 0, gpuHour: 2.5 },
          setAt: NOW.toISOString(),
        },
      },
    ]);
    const state = events.reduce(evolvePriceBook, initialPriceBookState('gpu'));
    expect(decidePriceBook(state, set('gpu', { gpuHour: 2.5 }), NOW)).toEqual([]);
    expect(decidePriceBook(state, set('gpu', { gpuHour: 3 }), NOW)).toHaveLength(1);
  });

  it.each([
    ['a negative price', set('gpu', { gpuHour: -1 })],
    ['an unknown resource', set('gpu', { tpuHour: 1 })],
    ['another pool', set('cpu', { coreHour: 1 })],
  ])('refuses %s', (_case, command) => {
    try {
      decidePriceBook(initialPriceBookState('gpu'), command, NOW);
      throw new Error('accepted');
    } catch (err) {
      expect(isGantryError(err) && err.code).toBe(ErrorCodes.VALIDATION_FAILED);
    }
  });
});
