import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed, expiring blob URLs (issue 3, staging): `<base>/blobs/<fileId>?expires=<unix s>&sig=<mac>`.
 * The MAC is HMAC-SHA256 under the staging secret over the method, the file, its tenant and the
 * expiry, so a URL grants exactly one verb on one file until one instant. The tenant is not in
 * the URL: the verifier takes it from the file's stream, so a URL minted for one tenant's file
 * can never be replayed against a file of the same id written by another.
 */
export type BlobMethod = 'GET' | 'PUT';

export interface BlobGrant {
  readonly method: BlobMethod;
  readonly fileId: string;
  readonly tenant: string;
  /** Unix seconds. */
  readonly expires: number;
}

export type BlobVerdict = 'ok' | 'expired' | 'bad_signature';

const DIGEST_BYTES = 32;

/** Versioned so the canonical form can change without old URLs meaning something new. */
const canonical = (grant: BlobGrant): string =>
  ['gantry-blob-v1', grant.method, grant.fileId, grant.tenant, String(grant.expires)].join('\n');

export const signBlobGrant = (grant: BlobGrant, secret: string): string =>
  createHmac('sha256', secret).update(canonical(grant), 'utf8').digest('base64url');

export const blobUrl = (baseUrl: string, grant: BlobGrant, secret: string): string => {
  const query = new URLSearchParams({
    expires: String(grant.expires),
    sig: signBlobGrant(grant, secret),
  });
  return `${baseUrl.replace(/\/+$/, '')}/blobs/${encodeURIComponent(grant.fileId)}?${query.toString()}`;
};

/** The `expires` query value as unix seconds, or null when it is not a plain whole number. */
export const parseExpires = (raw: unknown): number | null => {
  if (typeof raw !== 'string' || !/^\d{1,12}$/.test(raw)) return null;
  return Number(raw);
};

/**
 * Checks a presented signature in time independent of where it differs. Expiry is checked too
 * (a URL is good up to and including its `expires` second), but only after the MAC, so a forged
 * URL never learns anything from the answer.
 */
export const verifyBlobGrant = (
  grant: BlobGrant,
  presentedSig: unknown,
  secret: string,
  nowSeconds: number,
): BlobVerdict => {
  if (typeof presentedSig !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(presentedSig)) {
    return 'bad_signature';
  }
  const presented = Buffer.from(presentedSig, 'base64url');
  const expected = Buffer.from(signBlobGrant(grant, secret), 'base64url');
  if (presented.length !== DIGEST_BYTES || !timingSafeEqual(presented, expected)) {
    return 'bad_signature';
  }
  return nowSeconds > grant.expires ? 'expired' : 'ok';
};
