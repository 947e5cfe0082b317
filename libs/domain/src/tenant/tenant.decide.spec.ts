import { ErrorCodes, isGantryError, type ErrorCode, type TenantEvent } from '@gantry/contracts';
import {
  API_KEY_RANDOM_BYTES,
  apiKeyMaterialFrom,
  formatApiKey,
  hashApiKeySecret,
  parseApiKey,
  verifyApiKey,
  type ApiKeyMaterial,
} from './api-key';
import {
  decideTenant,
  evolveTenant,
  foldTenant,
  liveKeyOf,
  type TenantDecision,
  type TenantState,
} from './tenant.aggregate';

/** The tenant aggregate as "given events, when command, then events (or error code)". */
const NOW = new Date('2026-11-01T10:00:00.000Z');
const T0 = '2026-11-01T09:00:00.000Z';

/** Deterministic key material: byte `seed` repeated, so each test knows its keys. */
const keyOf = (seed: number): ApiKeyMaterial =>
  apiKeyMaterialFrom(new Uint8Array(API_KEY_RANDOM_BYTES).fill(seed));
const K1 = keyOf(1);
const K2 = keyOf(2);

const created = (id = 'acme', key = K1): TenantEvent => ({
  type: 'TenantCreated',
  data: {
    id,
    name: 'Acme',
    quotas: { cores: 64, concurrentJobs: 100 },
    apiKey: { keyId: key.keyId, hash: hashApiKeySecret(key), createdAt: T0 },
    createdAt: T0,
  },
});

const given = (...events: TenantEvent[]): TenantState => foldTenant('acme', events);

const create = (data: Record<string, unknown> = {}, key = K1): TenantDecision =>
  ({
    command: {
      type: 'CreateTenant',
      data: { id: 'acme', name: 'Acme', quotas: { cores: 64, concurrentJobs: 100 }, ...data },
    },
    key,
  }) as TenantDecision;
const setQuotas = (quotas: Record<string, unknown>): TenantDecision =>
  ({ command: { type: 'SetTenantQuotas', data: { id: 'acme', quotas } } }) as TenantDecision;
const rotate = (key = K2): TenantDecision => ({
  command: { type: 'RotateApiKey', data: { id: 'acme' } },
  key,
});
const revokeKey = (keyId: string): TenantDecision => ({
  command: { type: 'RevokeApiKey', data: { id: 'acme', keyId } },
});

const outcomeOf = (state: TenantState, decision: TenantDecision): ErrorCode | 'accepted' => {
  try {
    decideTenant(state, decision, NOW);
    return 'accepted';
  } catch (err) {
    if (isGantryError(err)) return err.code;
    throw err;
  }
};

/** Every event a test decides is checked for the raw secrets of the keys it used. */
const expectNoSecrets = (events: readonly TenantEvent[]): void => {
  const text = JSON.stringify(events);
  for (const key of [K1, K2]) {
    expect(text).not.toContain(key.secret);
    expect(text).not.toContain(formatApiKey(key));
  }
};

describe('tenant aggregate', () => {
  describe('CreateTenant', () => {
    it('creates the tenant with its quotas and a hashed key, never the key itself', () => {
      const events = decideTenant(given(), create(), NOW);
      expect(events).toEqual([
        {
          type: 'TenantCreated',
          data: {
            id: 'acme',
            name: 'Acme',
            quotas: { cores: 64, concurrentJobs: 100 },
            apiKey: {
              keyId: K1.keyId,
              hash: expect.stringMatching(/^hmac-sha256:/),
              createdAt: NOW.toISOString(),
            },
            createdAt: NOW.toISOString(),
          },
        },
      ]);
      expectNoSecrets(events);
      const state = events.reduce(evolveTenant, given());
      expect(liveKeyOf(state)?.keyId).toBe(K1.keyId);
      const hash = (events[0]!.data as { apiKey: { hash: string } }).apiKey.hash;
      expect(verifyApiKey(formatApiKey(K1), hash)).toBe(true);
    });

    it('refuses a second create of the same tenant with TENANT_EXISTS', () => {
      expect(outcomeOf(given(created()), create({}, K2))).toBe(ErrorCodes.TENANT_EXISTS);
    });

    it.each([
      ['zero cores', { cores: 0 }],
      ['negative memory', { memoryMiB: -1 }],
      ['fractional gpus', { gpus: 1.5 }],
      ['a string', { concurrentJobs: '10' }],
      ['an unknown dimension', { disks: 3 }],
    ])('refuses quotas with %s as VALIDATION_FAILED', (_case, quotas) => {
      expect(outcomeOf(given(), create({ quotas }))).toBe(ErrorCodes.VALIDATION_FAILED);
    });

    it.each<[string, Record<string, unknown>]>([
      ['an empty name', { name: '' }],
      ['an id that is not a tenant id', { id: 'Acme.Corp' }],
    ])('refuses %s', (_case, data) => {
      const state = foldTenant(typeof data.id === 'string' ? data.id : 'acme', []);
      expect(outcomeOf(state, create(data))).toBe(ErrorCodes.VALIDATION_FAILED);
    });

    it('accepts a tenant without quotas (no limit on any dimension)', () => {
      expect(outcomeOf(given(), create({ quotas: {} }))).toBe('accepted');
    });
  });

  describe('SetTenantQuotas', () => {
    it('replaces the quotas', () => {
      const events = decideTenant(given(created()), setQuotas({ cores: 8, gpus: 2 }), NOW);
      expect(events).toEqual([
        {
          type: 'TenantQuotasSet',
          data: { id: 'acme', quotas: { cores: 8, gpus: 2 }, setAt: NOW.toISOString() },
        },
      ]);
      expect(events.reduce(evolveTenant, given(created()))).toMatchObject({
        quotas: { cores: 8, gpus: 2 },
      });
    });

    it('decides nothing when the quotas are already those', () => {
      expect(
        decideTenant(given(created()), setQuotas({ concurrentJobs: 100, cores: 64 }), NOW),
      ).toEqual([]);
    });

    it('refuses invalid quotas, and a missing tenant', () => {
      expect(outcomeOf(given(created()), setQuotas({ cores: -4 }))).toBe(
        ErrorCodes.VALIDATION_FAILED,
      );
      expect(outcomeOf(given(), setQuotas({ cores: 4 }))).toBe(ErrorCodes.NOT_FOUND);
    });
  });

  describe('RotateApiKey', () => {
    it('records the new key and revokes the old one in the same fact', () => {
      const events = decideTenant(given(created()), rotate(), NOW);
      expect(events).toEqual([
        {
          type: 'ApiKeyRotated',
          data: {
            id: 'acme',
            apiKey: {
              keyId: K2.keyId,
              hash: hashApiKeySecret(K2),
              createdAt: NOW.toISOString(),
            },
            revokedKeyId: K1.keyId,
            rotatedAt: NOW.toISOString(),
          },
        },
      ]);
      expectNoSecrets(events);
      const state = events.reduce(evolveTenant, given(created()));
      expect(liveKeyOf(state)?.keyId).toBe(K2.keyId);
      expect(state.status === 'ACTIVE' && state.keys).toEqual([
        { keyId: K1.keyId, createdAt: T0, revokedAt: NOW.toISOString() },
        { keyId: K2.keyId, createdAt: NOW.toISOString(), revokedAt: null },
      ]);
    });

    it('refuses a missing tenant, and a key id already used', () => {
      expect(outcomeOf(given(), rotate())).toBe(ErrorCodes.NOT_FOUND);
      expect(outcomeOf(given(created()), rotate(K1))).toBe(ErrorCodes.VALIDATION_FAILED);
    });
  });

  describe('RevokeApiKey', () => {
    it('revokes the key, leaving the tenant without a live one', () => {
      const events = decideTenant(given(created()), revokeKey(K1.keyId), NOW);
      expect(events).toEqual([
        {
          type: 'ApiKeyRevoked',
          data: { id: 'acme', keyId: K1.keyId, revokedAt: NOW.toISOString() },
        },
      ]);
      expect(liveKeyOf(events.reduce(evolveTenant, given(created())))).toBeNull();
    });

    it('decides nothing for a key already revoked; NOT_FOUND for an unknown one', () => {
      const revoked: TenantEvent = {
        type: 'ApiKeyRevoked',
        data: { id: 'acme', keyId: K1.keyId, revokedAt: T0 },
      };
      expect(decideTenant(given(created(), revoked), revokeKey(K1.keyId), NOW)).toEqual([]);
      expect(outcomeOf(given(created()), revokeKey(K2.keyId))).toBe(ErrorCodes.NOT_FOUND);
      expect(outcomeOf(given(), revokeKey(K1.keyId))).toBe(ErrorCodes.NOT_FOUND);
    });
  });

  it('refuses a command addressed to another tenant than the stream it reached', () => {
    expect(outcomeOf(foldTenant('globex', []), create())).toBe(ErrorCodes.VALIDATION_FAILED);
  });
});

describe('API keys', () => {
  it('look like gk_<keyId>_<secret> with a 256-bit secret, and parse back', () => {
    const key = formatApiKey(K1);
    expect(key).toMatch(/^gk_[0-9a-f]{24}_[A-Za-z0-9_-]{43}$/);
    expect(parseApiKey(key)).toEqual(K1);
    expect(Buffer.from(K1.secret, 'base64url')).toHaveLength(32);
  });

  it('verify only the key that was hashed', () => {
    const hash = hashApiKeySecret(K1);
    expect(verifyApiKey(formatApiKey(K1), hash)).toBe(true);
    expect(verifyApiKey(formatApiKey(K2), hash)).toBe(false);
    // Same secret under another key id: the hash is bound to its key id.
    expect(verifyApiKey(formatApiKey({ keyId: K2.keyId, secret: K1.secret }), hash)).toBe(false);
    const flipped = K1.secret.slice(0, -1) + (K1.secret.endsWith('A') ? 'B' : 'A');
    expect(verifyApiKey(formatApiKey({ ...K1, secret: flipped }), hash)).toBe(false);
  });

  it.each([
    '',
    'gk_',
    'Bearer x',
    'gk_nothex_' + K1.secret,
    `gk_${K1.keyId}_short`,
    'x'.repeat(300),
  ])('refuse the malformed key %j', (presented) => {
    expect(parseApiKey(presented)).toBeNull();
    expect(verifyApiKey(presented, hashApiKeySecret(K1))).toBe(false);
  });

  it('refuse a stored hash of another scheme or length', () => {
    expect(verifyApiKey(formatApiKey(K1), 'sha256:abc')).toBe(false);
    expect(verifyApiKey(formatApiKey(K1), 'hmac-sha256:abc')).toBe(false);
  });
});
