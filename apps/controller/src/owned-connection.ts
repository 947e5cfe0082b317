import { Injectable, type OnApplicationShutdown } from '@nestjs/common';

/** Drains a connection the app opened itself, once the transport above it has closed. */
@Injectable()
export class OwnedConnection implements OnApplicationShutdown {
  private drain: (() => Promise<void>) | undefined;

  adopt(drain: () => Promise<void>): void {
    this.drain = drain;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.drain?.().catch(() => undefined);
  }
}
