import { BaseRpcContext } from '@nestjs/microservices';
import { type MsgHdrs } from '@nats-io/transport-node';
import { type JsMsg } from '@nats-io/jetstream';

export type JetStreamContextArgs = [
  subject: string,
  headers: MsgHdrs | undefined,
  message: JsMsg | undefined,
  consumer: string | undefined,
];

/**
 * What a handler can ask about the message it is handling (`@Ctx() ctx: JetStreamContext`).
 * The ack itself stays with the transport: a handler returns or throws, and the transport acks,
 * naks or dead-letters. The one thing a handler does itself is say it is still working.
 */
export class JetStreamContext extends BaseRpcContext<JetStreamContextArgs> {
  getSubject(): string {
    return this.args[0];
  }

  getHeaders(): MsgHdrs | undefined {
    return this.args[1];
  }

  /** The JetStream message, for event handlers; undefined for commands. */
  getMessage(): JsMsg | undefined {
    return this.args[2];
  }

  /** The durable consumer delivering this event; undefined for commands. */
  getConsumer(): string | undefined {
    return this.args[3];
  }

  /** 1 for a first delivery; commands are always delivered once. */
  getDeliveryCount(): number {
    return this.args[2]?.info.deliveryCount ?? 1;
  }

  /** Resets the server's ack-wait timer; call it from a handler that may outlive `ackWaitMs`. */
  working(): void {
    this.args[2]?.working();
  }
}
