import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** A node's token: HMAC-SHA256(secret, nodeId). Derived on demand, so nothing secret is stored. */
export const nodeTokenFor = (secret: string, nodeId: string): string =>
  createHmac('sha256', secret).update(nodeId).digest('base64url');

/**
 * Constant-time equality of two secrets. Both are hashed first: timingSafeEqual needs equal
 * lengths, and comparing lengths directly would leak the expected one.
 */
export const secretsEqual = (given: string, expected: string): boolean =>
  timingSafeEqual(
    createHash('sha256').update(given).digest(),
    createHash('sha256').update(expected).digest(),
  );

export const isNodeTokenValid = (secret: string, nodeId: string, token: string): boolean =>
  secretsEqual(token, nodeTokenFor(secret, nodeId));
