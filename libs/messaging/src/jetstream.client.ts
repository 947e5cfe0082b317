import { ClientProxy, type ReadPacket, type WritePacket } from '@nestjs/microservices';
import { type NatsConnection } from '@nats-io/transport-node';
import {
  jetstream,
  type JetStreamClient as NatsJetStreamClient,
  type PubAck,
} from '@nats-io/jetstream';
import {
  ErrorCodes,
  GantryError,
  eventRegistry as defaultEventRegistry,
  type CommandEnvelope,
  type EventEnvelope,
  type MessageRegistry,
  type ServiceName,
  type SubjectCatalogue,
} from '@gantry/contracts';
import { sendCommand } from './command';
import { openConnection, type NatsConnectionSource } from './nats-source';
import { publishEvent } from './publish';

export interface JetStreamClientOptions {
  readonly nats: NatsConnectionSource;
  readonly subjects: SubjectCatalogue;
  /** The service a bare verb pattern goes to: `client.send('cancel', envelope)`. */
  readonly service?: ServiceName;
  readonly timeoutMs?: number;
  readonly events?: MessageRegistry;
}

/** `send()` takes a verb for the default service, or an explicit target. */
export type CommandPattern = string | { readonly service: ServiceName; readonly verb: string };

type ClientStatus = 'connected' | 'disconnected';

/**
 * The Nest client side of the JetStream transport. `send(verb, commandEnvelope)` is a command
 * (request/reply; error replies arrive as GantryError, silence as TIMEOUT); `emit(type, eventEnvelope)`
 * publishes an event to JetStream with its id as the dedupe key. Outside Nest, use `sendCommand` and
 * `publishEvent` directly.
 *
 * Not to be confused with `@nats-io/jetstream`'s JetStreamClient, which this wraps.
 */
export class JetStreamClient extends ClientProxy<Record<never, never>, ClientStatus> {
  private connection:
    Promise<{ nc: NatsConnection; owned: boolean; js: NatsJetStreamClient }> | undefined;
  private readonly events: MessageRegistry;
  private nc: NatsConnection | undefined;

  constructor(private readonly options: JetStreamClientOptions) {
    super();
    this.events = options.events ?? defaultEventRegistry;
  }

  /** Idempotent: ClientProxy calls it before every send and emit. */
  connect(): Promise<NatsConnection> {
    this.connection ??= openConnection(this.options.nats).then(
      ({ nc, owned }) => {
        this.nc = nc;
        this._status$.next('connected');
        return { nc, owned, js: jetstream(nc) };
      },
      (err: unknown) => {
        this.connection = undefined;
        throw err;
      },
    );
    return this.connection.then(({ nc }) => nc);
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.nc = undefined;
    if (!connection) return;
    const { nc, owned } = await connection;
    if (owned && !nc.isClosed()) await nc.drain();
    this._status$.next('disconnected');
  }

  unwrap<T>(): T {
    if (!this.nc) throw new Error('JetStreamClient is not connected; await connect() first');
    return this.nc as T;
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    let cancelled = false;
    void this.request(packet).then(
      (response) => !cancelled && callback({ response, isDisposed: true }),
      (err: unknown) => !cancelled && callback({ err }),
    );
    // A request on the wire cannot be recalled; unsubscribing only stops us listening for it.
    return () => {
      cancelled = true;
    };
  }

  protected async dispatchEvent<T = PubAck>(packet: ReadPacket): Promise<T> {
    const envelope = packet.data as EventEnvelope;
    // Validated like a consumer would read it, so nothing we publish is poison on arrival.
    this.events.parseEvent(envelope);
    if (packet.pattern !== envelope.type) {
      throw new GantryError(
        ErrorCodes.VALIDATION_FAILED,
        `emit pattern ${JSON.stringify(packet.pattern)} does not match the event type ${envelope.type}`,
        { details: { pattern: packet.pattern, type: envelope.type } },
      );
    }
    const { js } = await this.requireConnection();
    return (await publishEvent(js, this.options.subjects, envelope)) as T;
  }

  private async request(packet: ReadPacket): Promise<unknown> {
    const { service, verb } = this.target(packet.pattern as CommandPattern);
    const { nc } = await this.requireConnection();
    return sendCommand(nc, this.options.subjects, service, verb, packet.data as CommandEnvelope, {
      ...(this.options.timeoutMs === undefined ? {} : { timeoutMs: this.options.timeoutMs }),
    });
  }

  private target(pattern: CommandPattern): { service: ServiceName; verb: string } {
    if (typeof pattern !== 'string') return pattern;
    if (!this.options.service) {
      throw new GantryError(
        ErrorCodes.VALIDATION_FAILED,
        `no service for command ${pattern}: pass { service, verb }`,
      );
    }
    return { service: this.options.service, verb: pattern };
  }

  private async requireConnection(): Promise<{ nc: NatsConnection; js: NatsJetStreamClient }> {
    await this.connect();
    if (!this.connection) throw new Error('JetStreamClient is closed');
    return this.connection;
  }
}
