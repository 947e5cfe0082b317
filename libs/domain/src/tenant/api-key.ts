import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Tenant API keys (FEATURES.md I1): `gk_<keyId>_<secret>`.
 * - keyId: 12 random bytes as 24 lowercase hex chars. Public: it names the key, so the gateway
 *   finds the one stored hash with an index lookup instead of hashing against every key.
 * - secret: 32 random bytes (256 bits) as 43 base64url chars. Never stored, never in an event.
 *
 * Hash: HMAC-SHA256 keyed by the keyId, over the secret; stored as `hmac-sha256:<base64url>`.
 * Why not scrypt (or bcrypt, argon2): slow KDFs exist to make guessing LOW-entropy secrets
 * (passwords) expensive. Our secret is 256 random bits: no guessing attack is feasible however
 * fast the hash, so a KDF would add only its cost (tens of ms and MiBs of memory per call) to
 * every authenticated request on the gateway's hot path, and hand an attacker a cheap way to
 * burn our CPU with bogus keys. A single HMAC is microseconds. Keying it by the keyId binds each
 * hash to its key id (a hash copied onto another key's row verifies nothing) and separates it from
 * any other SHA-256 use. The prefix names the scheme, so a peppered variant (a server-held HMAC
 * key) can be added later next to it without rehashing.
 */
export const API_KEY_PREFIX = 'gk';
export const API_KEY_ID_BYTES = 12;
export const API_KEY_SECRET_BYTES = 32;
/** How many random bytes one key is made from: the key id's, then the secret's. */
export const API_KEY_RANDOM_BYTES = API_KEY_ID_BYTES + API_KEY_SECRET_BYTES;
const HASH_SCHEME = 'hmac-sha256';

const KEY_ID = /^[0-9a-f]{24}$/;
const SECRET = /^[A-Za-z0-9_-]{43,}$/;
/** The keyId is hex (no '_'), so the first '_' after it ends it even if the secret has some. */
const API_KEY = /^gk_([0-9a-f]{24})_([A-Za-z0-9_-]{43,})$/;

/** A freshly drawn key: what a decision needs to record it, and the one place the secret lives. */
export interface ApiKeyMaterial {
  readonly keyId: string;
  /** base64url, no padding. */
  readonly secret: string;
}

/**
 * Key material from random bytes (drawn by the caller: randomness is an input, so a decision
 * that records a key replays the same).
 */
export const apiKeyMaterialFrom = (random: Uint8Array): ApiKeyMaterial => {
  if (random.length < API_KEY_RANDOM_BYTES)
    throw new Error(`an API key needs ${API_KEY_RANDOM_BYTES} random bytes, got ${random.length}`);
  const bytes = Buffer.from(random.buffer, random.byteOffset, random.length);
  return {
    keyId: bytes.subarray(0, API_KEY_ID_BYTES).toString('hex'),
    secret: bytes.subarray(API_KEY_ID_BYTES, API_KEY_RANDOM_BYTES).toString('base64url'),
  };
};

export const isWellFormedApiKeyMaterial = (material: ApiKeyMaterial): boolean =>
  KEY_ID.test(material.keyId) &&
  SECRET.test(material.secret) &&
  Buffer.from(material.secret, 'base64url').length >= API_KEY_SECRET_BYTES;

/** The key as handed to the tenant, once. */
export const formatApiKey = (material: ApiKeyMaterial): string =>
  `${API_KEY_PREFIX}_${material.keyId}_${material.secret}`;

/** The parts of a presented key, or null when it is not one of ours (never an exception). */
export const parseApiKey = (presented: string): ApiKeyMaterial | null => {
  if (typeof presented !== 'string' || presented.length > 256) return null;
  const match = API_KEY.exec(presented);
  return match ? { keyId: match[1]!, secret: match[2]! } : null;
};

const digest = (keyId: string, secret: string): Buffer =>
  createHmac('sha256', keyId).update(secret, 'utf8').digest();

/** What is stored for a key: deterministic, so the aggregate stays pure. */
export const hashApiKeySecret = (material: ApiKeyMaterial): string =>
  `${HASH_SCHEME}:${digest(material.keyId, material.secret).toString('base64url')}`;

/**
 * Whether a presented key matches a stored hash. The comparison is constant-time
 * (crypto.timingSafeEqual), so response times leak nothing about how much of a guess was right.
 */
export const verifyApiKey = (presented: string, storedHash: string): boolean => {
  const parsed = parseApiKey(presented);
  if (!parsed || typeof storedHash !== 'string') return false;
  const [scheme, encoded] = storedHash.split(':', 2);
  if (scheme !== HASH_SCHEME || encoded === undefined) return false;
  const expected = Buffer.from(encoded, 'base64url');
  const actual = digest(parsed.keyId, parsed.secret);
  if (expected.length !== actual.length) return false;
  return timingSafeEqual(actual, expected);
};
