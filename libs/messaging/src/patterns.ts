import { EventPattern, MessagePattern } from '@nestjs/microservices';
import { JETSTREAM_TRANSPORT } from './jetstream.server';

/**
 * `@OnEvent('JobSubmitted')`: a JetStream event handler, `(event: EventEnvelope, ctx: JetStreamContext)`.
 * Plain `@EventPattern(type)` works too, but Nest 12 types it against an event map whose handlers
 * take `...args: unknown[]`, which refuses a typed `@Ctx()` parameter; this also binds the handler to
 * this transport, so a hybrid app's other transports never see it.
 */
export const OnEvent = (eventType: string): MethodDecorator =>
  EventPattern<string>(eventType, JETSTREAM_TRANSPORT);

/** `@OnCommand('cancel')`: answers `<ns>.cmd.<service>.cancel`, `(command: CommandEnvelope, ctx: JetStreamContext)`. */
export const OnCommand = (verb: string): MethodDecorator =>
  MessagePattern<string>(verb, JETSTREAM_TRANSPORT);
