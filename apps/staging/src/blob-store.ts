import { StorageType } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { type NatsConnection } from '@nats-io/transport-node';
import { type SubjectCatalogue } from '@gantry/contracts';
import { objectBucketNames } from '@gantry/messaging';

/** Where staged bytes live: named, immutable objects streamed in and out. */
export interface BlobStore {
  put(name: string, data: ReadableStream<Uint8Array>): Promise<void>;
  /** null when there is no such object. */
  get(name: string): Promise<ReadableStream<Uint8Array> | null>;
  delete(name: string): Promise<void>;
}

/**
 * The blobs in a JetStream object store bucket, file-backed so they outlive a server restart
 * like the event stream does. The object store chunks a stream as it arrives, so an upload is
 * never held whole in memory.
 */
export class NatsBlobStore implements BlobStore {
  private constructor(private readonly bucket: ObjectStore) {}

  /** One bucket per namespace, so test runs sharing a nats-server never see each other's files. */
  static async open(nc: NatsConnection, subjects: SubjectCatalogue): Promise<NatsBlobStore> {
    const bucket = await new Objm(nc).create(objectBucketNames(subjects).files, {
      storage: StorageType.File,
      description: 'Gantry staged files',
    });
    return new NatsBlobStore(bucket);
  }

  async put(name: string, data: ReadableStream<Uint8Array>): Promise<void> {
    await this.bucket.put({ name }, data);
  }

  async get(name: string): Promise<ReadableStream<Uint8Array> | null> {
    const result = await this.bucket.get(name);
    return result === null ? null : result.data;
  }

  async delete(name: string): Promise<void> {
    await this.bucket.delete(name);
  }

  /** The names of the objects held (tests check that refused uploads leave nothing). */
  async names(): Promise<string[]> {
    return (await this.bucket.list()).map((info) => info.name);
  }

  /** Removes the whole bucket (tests clean up with it). */
  async destroy(): Promise<void> {
    await this.bucket.destroy();
  }
}
