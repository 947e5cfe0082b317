import { Controller, Inject, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, MessagePattern, Payload, type MicroserviceOptions } from '@nestjs/microservices';
import { type CommandEnvelope, type EventEnvelope } from '@gantry/contracts';
import {
  GantryRpcExceptionFilter,
  JetStreamServer,
  OnEvent,
  type JetStreamContext,
  type JetStreamServerOptions,
} from '../src';

/**
 * A minimal Nest service on the JetStream transport, shaped like a real one (module, controller,
 * thin handlers), whose handlers delegate to whatever the test wants them to do.
 */
export interface Probe {
  onJobCancelled(event: EventEnvelope, ctx: JetStreamContext): Promise<unknown>;
  onCancel(command: CommandEnvelope, ctx: JetStreamContext): Promise<unknown>;
}

const PROBE = Symbol('probe');

@Controller()
class ProbeController {
  constructor(@Inject(PROBE) private readonly probe: Probe) {}

  @OnEvent('JobCancelled')
  onJobCancelled(@Payload() event: EventEnvelope, @Ctx() ctx: JetStreamContext): Promise<unknown> {
    return this.probe.onJobCancelled(event, ctx);
  }

  // Plain Nest decorators work as well as OnEvent / OnCommand.
  @MessagePattern('cancel')
  cancel(@Payload() command: CommandEnvelope, @Ctx() ctx: JetStreamContext): Promise<unknown> {
    return this.probe.onCancel(command, ctx);
  }
}

export const startProbeService = async (
  probe: Probe,
  options: JetStreamServerOptions,
): Promise<INestMicroservice> => {
  @Module({ controllers: [ProbeController], providers: [{ provide: PROBE, useValue: probe }] })
  class ProbeModule {}
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(ProbeModule, {
    strategy: new JetStreamServer(options),
    logger: process.env.GANTRY_TEST_LOGS ? ['log', 'warn', 'error'] : false,
  });
  app.useGlobalFilters(new GantryRpcExceptionFilter());
  await app.listen();
  return app;
};
