import { createHash, timingSafeEqual } from 'node:crypto';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The credential of an `Authorization: Bearer <token>` header, or null for anything else. */
export const bearerToken = (header: string | string[] | undefined): string | null => {
  if (typeof header !== 'string' || header.length > 1_024) return null;
  return BEARER.exec(header)?.[1] ?? null;
};

/**
 * Whether the presented token is the admin token, in time independent of where they differ and
 * of their lengths (both are hashed to 32 bytes first). An unset or empty admin token admits
 * nobody.
 */
export const isAdminToken = (presented: string | null, adminToken: string | undefined): boolean => {
  if (!adminToken || presented === null) return false;
  const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(adminToken));
};

/** The actor a tenant's key acts as in command metadata (ADR 0009). */
export const keyActor = (keyId: string): string => `key:${keyId}`;
