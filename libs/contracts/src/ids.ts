import { z } from 'zod';

/**
 * Identifier grammars. Every id that can end up in a NATS subject token is restricted to
 * characters that are legal there and carry no wildcard meaning ('.', '*', '>' and spaces are
 * never allowed), so a tenant can never widen a subscription by choosing a clever name.
 */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Internal streams (pools, nodes) belong to this pseudo-tenant; the leading '_' keeps it out of tenant space. */
export const SYSTEM_TENANT = '_system';

export const TenantIdSchema = z
  .string()
  .regex(
    TENANT_ID_PATTERN,
    'tenant ids are 1-63 chars of a-z, 0-9 and -, starting with a letter or digit',
  );
export const SubjectTokenSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1-128 chars of A-Z, a-z, 0-9, _ and -');
export const AggregateSchema = z
  .string()
  .regex(/^[a-z][a-z0-9]{0,31}$/, 'aggregate names are lowercase words');

export type TenantId = z.infer<typeof TenantIdSchema>;

/** A stream id names one aggregate instance: `<aggregate>-<id>`, e.g. `job-0f8c…`. */
export const StreamIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9]{0,31}-[A-Za-z0-9_-]{1,128}$/, 'stream ids look like <aggregate>-<id>');
export type StreamId = z.infer<typeof StreamIdSchema>;

export const streamIdOf = (aggregate: string, id: string): StreamId =>
  StreamIdSchema.parse(`${AggregateSchema.parse(aggregate)}-${SubjectTokenSchema.parse(id)}`);

export const parseStreamId = (streamId: StreamId): { aggregate: string; id: string } => {
  const dash = streamId.indexOf('-');
  return { aggregate: streamId.slice(0, dash), id: streamId.slice(dash + 1) };
};
