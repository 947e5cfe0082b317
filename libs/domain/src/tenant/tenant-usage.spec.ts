import { ErrorCodes } from '@gantry/contracts';
import { decideTenant, type TenantDecision, type TenantState } from './tenant.aggregate';
import { checkQuotas, thresholdOf, usageDrift, usageOf } from './tenant-usage';
import {
  NOW,
  T0,
  created,
  given,
  refusalOf,
  release,
  released,
  reserve as reserveHeld,
  reserved as reservedHeld,
} from '../../test/tenant.builders';

/** Usage reservations (B2) as "given events, when command, then events (or refusal)". */
const reserved = (jobId: string, cores: number, memoryMiB = 0, gpus = 0) =>
  reservedHeld(jobId, { cores, memoryMiB, gpus });
const reserve = (jobId: string, cores: number, memoryMiB = 0, gpus = 0): TenantDecision =>
  reserveHeld(jobId, { cores, memoryMiB, gpus });
const held = (cores: number, memoryMiB = 0, gpus = 0) => ({
  cores,
  memoryMiB,
  gpus,
  pool: 'cpu',
  ratePerHour: 0,
  projectedCost: 0,
});
const NOTHING_USED = { cores: 0, memoryMiB: 0, gpus: 0, concurrentJobs: 0 };

const reservationsOf = (state: TenantState) =>
  state.status === 'ACTIVE' ? state.reservations : null;

describe('tenant usage (B2)', () => {
  describe('the 90 % guard', () => {
    it('reserves a job that stays under 90 % of every quota', () => {
      const state = given(created({ cores: 10, concurrentJobs: 100 }), reserved('a', 4));
      expect(decideTenant(state, reserve('b', 4), NOW)).toEqual([
        {
          type: 'JobCapacityReserved',
          data: {
            id: 'acme',
            jobId: 'b',
            cores: 4,
            memoryMiB: 0,
            gpus: 0,
            pool: 'cpu',
            ratePerHour: 0,
            projectedCost: 0,
            reservedAt: NOW.toISOString(),
          },
        },
      ]);
    });

    it('guards memory and GPUs like cores, naming the dimension and its numbers', () => {
      const state = given(
        created({ memoryMiB: 10_240, gpus: 8, concurrentJobs: 100 }),
        reserved('a', 1, 4_096, 4),
      );
      expect(refusalOf(state, reserve('b', 1, 5_120, 0)).details).toEqual({
        dimension: 'memoryMiB',
        usage: 4_096,
        request: 5_120,
        limit: 10_240,
        threshold: 9_216,
        jobId: 'b',
      });
      expect(refusalOf(state, reserve('c', 1, 1_024, 4)).details).toMatchObject({
        dimension: 'gpus',
        usage: 4,
        request: 4,
        limit: 8,
      });
      expect(decideTenant(state, reserve('d', 1, 1_024, 2), NOW)).toHaveLength(1);
    });

    it('refuses a job that would reach exactly 90 % of the cores, with the numbers', () => {
      const state = given(created({ cores: 10, concurrentJobs: 100 }), reserved('a', 4));
      const refusal = refusalOf(state, reserve('b', 5));
      expect(refusal.code).toBe(ErrorCodes.QUOTA_EXCEEDED);
      expect(refusal.details).toEqual({
        dimension: 'cores',
        usage: 4,
        request: 5,
        limit: 10,
        threshold: 9,
        jobId: 'b',
      });
      expect(refusal.message).toMatch(/cores.*4.*5.*10/);
    });

    it('refuses on concurrentJobs when the count would reach the line', () => {
      // 10 jobs allowed: 10 < 0.9 x 12 = 10.8, an 11th would be 11 >= 10.8.
      const ten = Array.from({ length: 10 }, (_, i) => reserved(`j${i}`, 1));
      const state = given(created({ concurrentJobs: 12 }), ...ten);
      expect(refusalOf(state, reserve('eleventh', 1)).details).toMatchObject({
        dimension: 'concurrentJobs',
        usage: 10,
        request: 1,
        limit: 12,
        threshold: 10.8,
      });
      const nine = given(created({ concurrentJobs: 12 }), ...ten.slice(1));
      expect(decideTenant(nine, reserve('tenth', 1), NOW)).toHaveLength(1);
    });

    it('refuses a single job bigger than the line on an idle tenant', () => {
      expect(refusalOf(given(created({ cores: 8 })), reserve('big', 8)).details).toMatchObject({
        dimension: 'cores',
        usage: 0,
        request: 8,
      });
    });

    it('treats a dimension without a quota as unlimited', () => {
      const busy = Array.from({ length: 50 }, (_, i) => reserved(`j${i}`, 100));
      expect(decideTenant(given(created({}), ...busy), reserve('more', 1_000), NOW)).toHaveLength(
        1,
      );
    });

    it.each([
      ['no quotas', {}, { cores: 99, concurrentJobs: 99 }, null],
      ['cores just under', { cores: 100 }, { cores: 89, concurrentJobs: 1 }, null],
      ['cores at the line', { cores: 100 }, { cores: 90, concurrentJobs: 1 }, 'cores'],
      ['fractional cores at the line', { cores: 1 }, { cores: 0.9, concurrentJobs: 1 }, 'cores'],
      [
        'jobs at the line',
        { concurrentJobs: 10 },
        { cores: 0, concurrentJobs: 9 },
        'concurrentJobs',
      ],
      [
        'cores checked first',
        { cores: 1, concurrentJobs: 1 },
        { cores: 1, concurrentJobs: 1 },
        'cores',
      ],
    ])('checkQuotas: %s', (_case, quotas, total, dimension) => {
      const refusal = checkQuotas(quotas, NOTHING_USED, { ...NOTHING_USED, ...total });
      expect(refusal?.dimension ?? null).toBe(dimension);
    });

    it('computes thresholds without floating-point noise', () => {
      expect(thresholdOf(12)).toBe(10.8);
      expect(usageOf({ a: held(0.1, 64), b: held(0.2, 32, 1) })).toEqual({
        cores: 0.3,
        memoryMiB: 96,
        gpus: 1,
        concurrentJobs: 2,
      });
    });

    it('refuses a reservation for a tenant that does not exist', () => {
      expect(refusalOf(given(), reserve('a', 1)).code).toBe(ErrorCodes.NOT_FOUND);
    });
  });

  describe('idempotency', () => {
    it('reserves nothing twice for the same job, even when the tenant is now full', () => {
      const state = given(created({ cores: 10 }), reserved('a', 8));
      expect(decideTenant(state, reserve('a', 8), NOW)).toEqual([]);
    });

    it('releases a reserved job once; the second release changes nothing', () => {
      const state = given(created({ cores: 10 }), reserved('a', 4), reserved('b', 2));
      const events = decideTenant(state, release('a'), NOW);
      expect(events).toEqual([
        {
          type: 'JobCapacityReleased',
          data: {
            id: 'acme',
            jobId: 'a',
            runtimeSeconds: 0,
            cost: 0,
            releasedAt: NOW.toISOString(),
          },
        },
      ]);
      const after = given(created({ cores: 10 }), reserved('a', 4), reserved('b', 2), ...events);
      expect(reservationsOf(after)).toEqual({ b: held(2) });
      expect(decideTenant(after, release('a'), NOW)).toEqual([]);
    });

    it.each([
      ['a job never reserved', given(created({ cores: 10 }))],
      ['a tenant that does not exist', given()],
      ['a name on the prototype', given(created({ cores: 10 }), reserved('a', 1))],
    ])('releasing %s changes nothing', (_case, state) => {
      expect(decideTenant(state, release('toString'), NOW)).toEqual([]);
    });

    it('frees the capacity a released job held', () => {
      const full = given(created({ cores: 10 }), reserved('a', 8));
      expect(refusalOf(full, reserve('b', 2)).code).toBe(ErrorCodes.QUOTA_EXCEEDED);
      const freed = given(created({ cores: 10 }), reserved('a', 8), released('a'));
      expect(decideTenant(freed, reserve('b', 2), NOW)).toHaveLength(1);
    });

    it('keeps only the live reservations, and survives a new set of quotas', () => {
      const events = [created({ cores: 100 })];
      for (let i = 0; i < 500; i += 1) events.push(reserved(`j${i}`, 1), released(`j${i}`));
      events.push(reserved('live', 3), {
        type: 'TenantQuotasSet',
        data: { id: 'acme', quotas: { cores: 4 }, setAt: T0 },
      });
      const state = given(...events);
      expect(reservationsOf(state)).toEqual({ live: held(3) });
      expect(JSON.parse(JSON.stringify(state))).toEqual(state);
      expect(refusalOf(state, reserve('next', 1)).details).toMatchObject({ usage: 3, limit: 4 });
    });
  });

  describe('drift between a cached usage and the stream (B4)', () => {
    const usage = (cores: number, concurrentJobs: number) => ({
      cores,
      memoryMiB: 0,
      gpus: 0,
      concurrentJobs,
    });
    it('names each dimension that disagrees, with how far', () => {
      expect(usageDrift(usage(40, 2), usage(4, 2))).toEqual([
        { dimension: 'cores', cached: 40, actual: 4, drift: 0.9 },
      ]);
      expect(usageDrift(usage(0, 1), usage(0, 0))).toEqual([
        { dimension: 'concurrentJobs', cached: 1, actual: 0, drift: 1 },
      ]);
    });
    it('sees no drift in the same numbers summed in another order', () => {
      expect(usageDrift(usage(0.1 + 0.2, 3), usage(0.3, 3))).toEqual([]);
    });
  });

  describe('GPUs per pool (B1)', () => {
    const quotas = { gpusByPool: { a100: 10 } };
    it('guards each pool on its own quota, naming the pool', () => {
      const state = given(
        created(quotas),
        reservedHeld('a', { gpus: 6, pool: 'a100' }),
        reservedHeld('b', { gpus: 50, pool: 't4' }),
      );
      expect(decideTenant(state, reserveHeld('c', { gpus: 2, pool: 'a100' }), NOW)).toHaveLength(1);
      const refusal = refusalOf(state, reserveHeld('c', { gpus: 3, pool: 'a100' }));
      expect(refusal.code).toBe(ErrorCodes.QUOTA_EXCEEDED);
      expect(refusal.details).toEqual({
        dimension: 'gpus',
        pool: 'a100',
        usage: 6,
        request: 3,
        limit: 10,
        threshold: 9,
        jobId: 'c',
      });
      expect(refusal.message).toMatch(/gpus quota of pool a100/);
      // A pool without a quota of its own is bounded only by the tenant's total, if any.
      expect(decideTenant(state, reserveHeld('d', { gpus: 40, pool: 't4' }), NOW)).toHaveLength(1);
    });
  });
});
