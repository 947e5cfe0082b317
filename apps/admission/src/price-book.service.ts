import { Inject, Injectable } from '@nestjs/common';
import {
  commandRegistry,
  streamIdOf,
  SYSTEM_TENANT,
  type CommandEnvelope,
  type PoolPrices,
  type PricingCommand,
  type PricingEvent,
} from '@gantry/contracts';
import {
  decidePriceBook,
  evolvePriceBook,
  initialPriceBookState,
  type PriceBookState,
} from '@gantry/domain';
import { CommandProcessor, commandContextOf, type Decider } from '@gantry/event-store';
import { requireAdmin } from './tenant-commands';
import { ADMISSION_DEPENDENCIES, type AdmissionDependencies } from './tenant-commands.service';

/**
 * Prices may be this old when a job is priced (B4 lets admission decide from a cache at most 5 s
 * stale); a price set through this replica is seen by it at once.
 */
export const PRICE_CACHE_TTL_MS = 2_000;

export interface PoolPricesReply {
  readonly pool: string;
  readonly prices: PoolPrices;
  readonly version: number;
}

/** The pools' price books (B3, B5): set by an admin, read when a job is priced. */
@Injectable()
export class PriceBookService {
  private readonly processor: CommandProcessor;
  private readonly cached = new Map<string, { prices: PoolPrices | undefined; at: number }>();
  private readonly decider = (
    pool: string,
  ): Decider<PriceBookState, PricingCommand, PricingEvent> => ({
    initialState: () => initialPriceBookState(pool),
    evolve: evolvePriceBook,
    decide: decidePriceBook,
  });

  constructor(@Inject(ADMISSION_DEPENDENCIES) private readonly deps: AdmissionDependencies) {
    this.processor = new CommandProcessor(deps.store, {
      clock: deps.clock,
      random: () => Buffer.from(deps.randomBytes(4)).readUInt32BE() / 2 ** 32,
    });
  }

  /** `admission.set-pool-prices`: admin only; the admin is the event's actor. */
  async setPrices(envelope: CommandEnvelope): Promise<PoolPricesReply> {
    requireAdmin(envelope);
    const data = commandRegistry.validateData(
      'SetPoolPrices',
      envelope.data,
    ) as PricingCommand['data'];
    const command = { type: 'SetPoolPrices', data } as PricingCommand;
    const result = await this.processor.handle(
      this.decider(data.pool),
      streamIdOf('pricebook', data.pool),
      command,
      { ...commandContextOf(envelope), tenant: SYSTEM_TENANT },
    );
    const prices = (await this.load(data.pool)) ?? { coreHour: 0, memoryGiBHour: 0, gpuHour: 0 };
    return { pool: data.pool, prices, version: result.version };
  }

  /** A pool's prices as of at most PRICE_CACHE_TTL_MS ago; undefined: the pool is free. */
  async pricesOf(pool: string): Promise<PoolPrices | undefined> {
    const hit = this.cached.get(pool);
    if (hit && this.deps.clock().getTime() - hit.at < PRICE_CACHE_TTL_MS) return hit.prices;
    return this.load(pool);
  }

  private async load(pool: string): Promise<PoolPrices | undefined> {
    const { state } = await this.deps.store.aggregateStream<PriceBookState>(
      streamIdOf('pricebook', pool),
      {
        initial: () => initialPriceBookState(pool),
        evolve: (s, envelope) =>
          evolvePriceBook(s, { type: envelope.type, data: envelope.data } as PricingEvent),
      },
    );
    this.cached.set(pool, { prices: state.prices, at: this.deps.clock().getTime() });
    return state.prices;
  }
}
