import { z } from 'zod';
import { StreamIdSchema, TenantIdSchema, SYSTEM_TENANT } from './ids';

/**
 * Every message on the bus and every row in the store travels in this envelope
 * (ARCHITECTURE.md: id, type, schema version, tenant, stream id and version or position,
 * occurred-at, causation id, correlation id, W3C traceparent). Messages are plain readonly data
 * `{ type, data, metadata }` (CONVENTIONS.md #3).
 */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export const MessageTenantSchema = z.union([TenantIdSchema, z.literal(SYSTEM_TENANT)]);

export const MessageMetadataSchema = z.strictObject({
  tenant: MessageTenantSchema,
  occurredAt: z.iso.datetime({ offset: true }),
  /** The id of the message that caused this one; null for a message started by a person or a clock. */
  causationId: z.string().min(1).max(128).nullable(),
  /** Shared by every message of one piece of work, e.g. everything that follows one submission. */
  correlationId: z.string().min(1).max(128),
  traceparent: z.string().regex(TRACEPARENT, 'a W3C traceparent').optional(),
  /** Who asked: a tenant's key id, an admin, or a service. */
  actor: z.string().min(1).max(200).optional(),
});
export type MessageMetadata = z.infer<typeof MessageMetadataSchema>;

export const EventMetadataSchema = MessageMetadataSchema.extend({
  streamId: StreamIdSchema,
  /** 1-based, gapless per stream. */
  streamVersion: z.number().int().positive(),
  /** The store's global position as a decimal string (a bigint); known once committed. */
  globalPosition: z.string().regex(/^\d+$/).optional(),
});
export type EventMetadata = z.infer<typeof EventMetadataSchema>;

const envelopeBase = {
  id: z.uuid(),
  type: z.string().regex(/^[A-Z][A-Za-z0-9]{1,99}$/, 'event and command types are PascalCase'),
  schemaVersion: z.number().int().positive(),
  data: z.record(z.string(), z.unknown()),
};

export const EventEnvelopeSchema = z.strictObject({
  ...envelopeBase,
  metadata: EventMetadataSchema,
});
export const CommandEnvelopeSchema = z.strictObject({
  ...envelopeBase,
  metadata: MessageMetadataSchema,
});

export interface EventEnvelope<
  TType extends string = string,
  TData = Readonly<Record<string, unknown>>,
> {
  readonly id: string;
  readonly type: TType;
  readonly schemaVersion: number;
  readonly data: TData;
  readonly metadata: Readonly<EventMetadata>;
}

export interface CommandEnvelope<
  TType extends string = string,
  TData = Readonly<Record<string, unknown>>,
> {
  readonly id: string;
  readonly type: TType;
  readonly schemaVersion: number;
  readonly data: TData;
  readonly metadata: Readonly<MessageMetadata>;
}

/** A domain event before it is stored: what `decide` returns. */
export interface DomainEvent<
  TType extends string = string,
  TData = Readonly<Record<string, unknown>>,
> {
  readonly type: TType;
  readonly data: TData;
}
