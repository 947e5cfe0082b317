import { ErrorCodes, type TenantEvent } from '@gantry/contracts';
import {
  decideTenant,
  evolveTenant,
  type TenantDecision,
  type TenantState,
} from './tenant.aggregate';
import { NOW, created, given, refusalOf } from '../../test/tenant.builders';

/** Storage, ingress and egress quotas (B1). */
const charge = (fileId: string, bytes: number): TenantDecision => ({
  command: { type: 'ChargeStorage', data: { id: 'acme', fileId, bytes } },
});
const releaseFile = (fileId: string): TenantDecision => ({
  command: { type: 'ReleaseStorage', data: { id: 'acme', fileId } },
});
const download = (ref: string, bytes: number): TenantDecision => ({
  command: { type: 'ChargeEgress', data: { id: 'acme', ref, bytes } },
});
const after = (state: TenantState, decision: TenantDecision, now = NOW): TenantState =>
  decideTenant(state, decision, now).reduce(evolveTenant, state);
const NEXT_MONTH = new Date('2026-12-01T00:00:00.000Z');

describe('byte quotas (B1)', () => {
  it('charges a file once against storage and the month’s ingress, and refuses at 90 %', () => {
    let state = given(created({ storageBytes: 1_000, ingressBytes: 10_000 }));
    state = after(state, charge('f1', 600));
    expect(decideTenant(state, charge('f1', 600), NOW)).toEqual([]);
    const refusal = refusalOf(state, charge('f2', 300));
    expect(refusal.code).toBe(ErrorCodes.QUOTA_EXCEEDED);
    expect(refusal.details).toEqual({
      dimension: 'storageBytes',
      usage: 600,
      request: 300,
      limit: 1_000,
      threshold: 900,
      fileId: 'f2',
    });
    expect(decideTenant(state, charge('f2', 299), NOW)).toHaveLength(1);
  });

  it('gives storage back when a file is released, once, but never the month’s ingress', () => {
    let state = given(created({ storageBytes: 1_000, ingressBytes: 1_000 }));
    state = after(state, charge('f1', 800));
    const released = decideTenant(state, releaseFile('f1'), NOW);
    expect(released).toEqual([
      {
        type: 'StorageReleased',
        data: {
          id: 'acme',
          fileId: 'f1',
          bytes: 800,
          storageBytes: 0,
          releasedAt: NOW.toISOString(),
        },
      },
    ]);
    state = released.reduce(evolveTenant, state);
    expect(decideTenant(state, releaseFile('f1'), NOW)).toEqual([]);
    // Storage is free again, but 800 of the month's 1,000 uploaded bytes are spent.
    expect(refusalOf(state, charge('f2', 100)).details).toMatchObject({
      dimension: 'ingressBytes',
    });
    expect(decideTenant(state, charge('f2', 100), NEXT_MONTH)).toHaveLength(1);
  });

  it('counts each download against the month’s egress', () => {
    let state = given(created({ egressBytes: 1_000 }));
    state = after(state, download('job-1/out.txt', 500));
    state = after(state, download('job-1/out.txt', 300));
    expect(refusalOf(state, download('job-1/out.txt', 100)).details).toMatchObject({
      dimension: 'egressBytes',
      usage: 800,
    });
    expect(decideTenant(state, download('job-1/out.txt', 99), NOW)).toHaveLength(1);
  });

  it('has no byte limits without byte quotas', () => {
    const state: TenantState = given(created({}));
    const big = 10 ** 15;
    expect(decideTenant(state, charge('f', big), NOW)).toHaveLength(1);
    const e: TenantEvent[] = decideTenant(state, download('x', big), NOW);
    expect(e).toHaveLength(1);
  });
});
