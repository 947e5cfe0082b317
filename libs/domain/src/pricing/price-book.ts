import {
  ErrorCodes,
  GantryError,
  PoolPricesSchema,
  type PoolPrices,
  type PricingCommand,
  type PricingEvent,
} from '@gantry/contracts';

/**
 * A pool's prices (B3), in the stream `pricebook-<pool>`: the last PoolPricesSet wins. Setting
 * the prices a pool already has decides nothing, so a retried admin call adds no event.
 */
export interface PriceBookState {
  readonly pool: string;
  readonly prices: PoolPrices | undefined;
}

export const initialPriceBookState = (pool: string): PriceBookState => ({
  pool,
  prices: undefined,
});

export const evolvePriceBook = (state: PriceBookState, event: PricingEvent): PriceBookState =>
  event.type === 'PoolPricesSet' ? { ...state, prices: event.data.prices } : state;

export const decidePriceBook = (
  state: PriceBookState,
  command: PricingCommand,
  now: Date,
): PricingEvent[] => {
  if (command.data.pool !== state.pool)
    throw new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      `prices for pool ${command.data.pool} reached the price book of ${state.pool}`,
    );
  const parsed = PoolPricesSchema.safeParse(command.data.prices);
  if (!parsed.success)
    throw new GantryError(
      ErrorCodes.VALIDATION_FAILED,
      'prices are non-negative amounts per coreHour, memoryGiBHour and gpuHour',
      {
        details: {
          issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
        },
      },
    );
  const prices = parsed.data;
  const current = state.prices;
  if (
    current &&
    current.coreHour === prices.coreHour &&
    current.memoryGiBHour === prices.memoryGiBHour &&
    current.gpuHour === prices.gpuHour
  )
    return [];
  return [{ type: 'PoolPricesSet', data: { pool: state.pool, prices, setAt: now.toISOString() } }];
};
