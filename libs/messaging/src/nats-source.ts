import { type NatsConnection } from '@nats-io/transport-node';
import { connectNats } from './connection';

/** Either a connection the caller owns (and closes), or where to open one the transport owns. */
export interface NatsConnectionSettings {
  readonly url: string;
  /** Shown in the server's connection list: name the process. */
  readonly name: string;
}
export type NatsConnectionSource = NatsConnection | NatsConnectionSettings;

export const isConnectionSettings = (
  source: NatsConnectionSource,
): source is NatsConnectionSettings =>
  typeof (source as Partial<NatsConnectionSettings>).url === 'string' &&
  typeof (source as Partial<NatsConnection>).request !== 'function';

export const openConnection = async (
  source: NatsConnectionSource,
): Promise<{ nc: NatsConnection; owned: boolean }> =>
  isConnectionSettings(source)
    ? { nc: await connectNats(source.url, source.name), owned: true }
    : { nc: source, owned: false };
