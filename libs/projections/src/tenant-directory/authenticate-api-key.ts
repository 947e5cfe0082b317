import { type Pool } from 'pg';
import { parseApiKey, verifyApiKey } from '@gantry/domain';

export interface AuthenticatedKey {
  readonly tenant: string;
  readonly keyId: string;
}

/** The one query authentication needs; a Pool or a PoolClient will do. */
export type KeyLookup = Pick<Pool, 'query'>;

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * The tenant a bearer credential belongs to, or null (FEATURES.md I1). Accepts the Authorization
 * header's value (`Bearer gk_...`) or the bare key. The key id finds the one stored hash by
 * primary key; the secret is checked against it in constant time (verifyApiKey); a revoked key,
 * an unknown key id, a wrong secret and anything malformed all answer null alike, so a caller
 * turns every one of them into the same 401.
 */
export const authenticateApiKey = async (
  db: KeyLookup,
  bearer: string | null | undefined,
): Promise<AuthenticatedKey | null> => {
  if (typeof bearer !== 'string' || bearer.length > 512) return null;
  const presented = BEARER.exec(bearer)?.[1] ?? bearer.trim();
  const parsed = parseApiKey(presented);
  if (!parsed) return null;
  const { rows } = await db.query<{ tenant: string; hash: string; revoked_at: Date | null }>(
    'SELECT tenant, hash, revoked_at FROM api_keys WHERE key_id = $1',
    [parsed.keyId],
  );
  const row = rows[0];
  if (!row || row.revoked_at !== null) return null;
  return verifyApiKey(presented, row.hash) ? { tenant: row.tenant, keyId: parsed.keyId } : null;
};
