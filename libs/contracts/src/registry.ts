import { z } from 'zod';
import { ErrorCodes, GantryError } from './errors';
import { EventEnvelopeSchema, type EventEnvelope } from './envelope';

/**
 * Versioned message schemas. Each type has one current version; older versions stay readable
 * through a chain of upcasters (v1 -> v2 -> ... -> current), applied on read. History is never
 * rewritten (CONVENTIONS.md #4): a breaking change is a new version plus an upcaster.
 */
export interface MessageDefinition<
  TType extends string = string,
  TSchema extends z.ZodType = z.ZodType,
> {
  readonly type: TType;
  readonly version: number;
  readonly schema: TSchema;
  /** upcasters[n] turns version n data into version n + 1 data. */
  readonly upcasters: Readonly<
    Record<number, (data: Record<string, unknown>) => Record<string, unknown>>
  >;
}

export const defineMessage = <TType extends string, TSchema extends z.ZodType>(
  type: TType,
  version: number,
  schema: TSchema,
  upcasters: MessageDefinition['upcasters'] = {},
): MessageDefinition<TType, TSchema> => {
  for (let v = 1; v < version; v += 1) {
    if (!upcasters[v]) throw new Error(`${type}: version ${version} needs an upcaster from v${v}`);
  }
  return { type, version, schema, upcasters };
};

/**
 * The message a definition describes, as readonly `{ type, data }` data: unions of events and
 * commands are derived from their definition lists with this, so the two cannot drift apart.
 */
export type MessageOf<D> = D extends {
  type: infer TType extends string;
  schema: infer TSchema extends z.ZodType;
}
  ? { readonly type: TType; readonly data: z.output<TSchema> }
  : never;

const formatIssues = (error: z.ZodError): { path: string; message: string }[] =>
  error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));

export const validationError = (what: string, error: z.ZodError): GantryError =>
  new GantryError(ErrorCodes.VALIDATION_FAILED, `${what} is invalid: ${z.prettifyError(error)}`, {
    details: { issues: formatIssues(error) },
  });

export class MessageRegistry {
  private readonly definitions = new Map<string, MessageDefinition>();

  constructor(definitions: readonly MessageDefinition[]) {
    for (const definition of definitions) {
      if (this.definitions.has(definition.type))
        throw new Error(`duplicate message type ${definition.type}`);
      this.definitions.set(definition.type, definition);
    }
  }

  has(type: string): boolean {
    return this.definitions.has(type);
  }

  currentVersion(type: string): number {
    return this.definition(type).version;
  }

  /** Validates data written now: it must be the current version's shape. Returns the parsed data. */
  validateData(type: string, data: unknown): Record<string, unknown> {
    const definition = this.definition(type);
    const parsed = definition.schema.safeParse(data);
    if (!parsed.success) throw validationError(`${type} v${definition.version} data`, parsed.error);
    return parsed.data as Record<string, unknown>;
  }

  /** Brings data of any known version up to the current one and validates it. */
  upcast(
    type: string,
    schemaVersion: number,
    data: Record<string, unknown>,
  ): Record<string, unknown> {
    const definition = this.definition(type);
    if (schemaVersion > definition.version || schemaVersion < 1) {
      throw new GantryError(
        ErrorCodes.UNSUPPORTED_SCHEMA_VERSION,
        `${type} v${schemaVersion} is not known here (current is v${definition.version})`,
        { details: { type, schemaVersion, current: definition.version } },
      );
    }
    let current = data;
    for (let v = schemaVersion; v < definition.version; v += 1) {
      current = definition.upcasters[v]!(current);
    }
    return this.validateData(type, current);
  }

  /** Parses an envelope from the wire or the store: envelope shape, known type, data upcast to current. */
  parseEvent(raw: unknown): EventEnvelope {
    const parsed = EventEnvelopeSchema.safeParse(raw);
    if (!parsed.success) throw validationError('event envelope', parsed.error);
    const envelope = parsed.data;
    const data = this.upcast(envelope.type, envelope.schemaVersion, envelope.data);
    return { ...envelope, schemaVersion: this.currentVersion(envelope.type), data };
  }

  private definition(type: string): MessageDefinition {
    const definition = this.definitions.get(type);
    if (!definition) {
      throw new GantryError(ErrorCodes.UNKNOWN_EVENT_TYPE, `unknown message type '${type}'`, {
        details: { type },
      });
    }
    return definition;
  }
}
