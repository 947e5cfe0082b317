import { createHash } from 'node:crypto';

/**
 * Job identity at submission (ARCHITECTURE.md invariant 4). With an Idempotency-Key the id is a
 * UUIDv5 of (tenant, key): every retry of the submission opens the same `job-<id>` stream, so the
 * store's expected-version check and the domain's repeat rule turn a second submission into the
 * first job, never a new one. The tenant is part of the name, so two tenants using the same key
 * get different jobs and cannot learn of each other's. Without a key the id is fresh.
 */
export const JOB_ID_NAMESPACE = '444457bf-9178-41ff-b8f4-b4257a59d51a';

/** RFC 4122 version 5: SHA-1 of namespace bytes + name, with the version and variant bits set. */
export const uuidV5 = (namespace: string, name: string): string => {
  const namespaceBytes = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (namespaceBytes.length !== 16) throw new Error(`not a UUID namespace: ${namespace}`);
  const bytes = createHash('sha1')
    .update(namespaceBytes)
    .update(name, 'utf8')
    .digest()
    .subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

export const submittedJobId = (
  tenant: string,
  idempotencyKey: string | null,
  newJobId: () => string,
): string =>
  // JSON keeps the name unambiguous whatever characters the key holds.
  idempotencyKey === null
    ? newJobId()
    : uuidV5(JOB_ID_NAMESPACE, JSON.stringify([tenant, idempotencyKey]));
