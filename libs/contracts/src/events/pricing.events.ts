import { z } from 'zod';
import { SubjectTokenSchema } from '../ids';
import { defineMessage, type MessageOf } from '../registry';

/**
 * The price book (FEATURES.md B3, B5): what an hour of each resource costs in a pool, in one
 * currency unit the platform bills in. One stream per pool, `pricebook-<pool>`, written by
 * admission on an admin's command. A pool with no prices is free: nothing it runs costs anything.
 */
const Timestamp = z.iso.datetime({ offset: true });
const Price = z.number().nonnegative().max(1_000_000);

export const PoolPricesSchema = z.strictObject({
  /** One core for one hour. */
  coreHour: Price.default(0),
  /** One GiB of memory for one hour. */
  memoryGiBHour: Price.default(0),
  /** One GPU for one hour. */
  gpuHour: Price.default(0),
});
export type PoolPrices = z.output<typeof PoolPricesSchema>;

export const PoolPricesSetData = z.strictObject({
  pool: SubjectTokenSchema,
  prices: PoolPricesSchema,
  setAt: Timestamp,
});
export const PoolPricesSet = defineMessage('PoolPricesSet', 1, PoolPricesSetData);

export const pricingEventDefinitions = [PoolPricesSet] as const;
export type PricingEvent = MessageOf<(typeof pricingEventDefinitions)[number]>;

/** An admin's command (B5): the pool's prices, replacing the previous ones as a whole. */
export const SetPoolPrices = defineMessage(
  'SetPoolPrices',
  1,
  z.strictObject({ pool: SubjectTokenSchema, prices: PoolPricesSchema }),
);
export const pricingCommandDefinitions = [SetPoolPrices] as const;
export type PricingCommand = MessageOf<(typeof pricingCommandDefinitions)[number]>;
