import { randomUUID } from 'node:crypto';
import { type AddressInfo } from 'node:net';
import { type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type MicroserviceOptions } from '@nestjs/microservices';
import { type NatsConnection } from '@nats-io/transport-node';
import { type Pool } from 'pg';
import { type SubjectCatalogue } from '@gantry/contracts';
import { type PostgresEventStore } from '@gantry/event-store';
import {
  commandEnvelope,
  GantryRpcExceptionFilter,
  JetStreamServer,
  sendCommand,
} from '@gantry/messaging';
import {
  catchUpProjection,
  PostgresProjectionSink,
  stagedFilesProjection,
} from '@gantry/projections';
import { createBlobServer } from './blob-http';
import { NatsBlobStore, type BlobStore } from './blob-store';
import { OrphanSweep } from './orphan-sweep';
import { StagedFiles, type StorageMeter } from './staged-files.service';
import {
  DEFAULT_ORPHAN_GRACE_SECONDS,
  DEFAULT_ORPHAN_SWEEP_SECONDS,
  type OrphanSweepConfig,
  type StagingHttpConfig,
} from './staging.config';
import { StagingModule } from './staging.module';

export interface StagingAppOptions {
  /** Owned by the caller: commands, and the object store bucket. */
  readonly nc: NatsConnection;
  readonly subjects: SubjectCatalogue;
  readonly pool: Pool;
  readonly store: PostgresEventStore;
  readonly http: StagingHttpConfig;
  /** The collection of attempts' uncommitted files (D4); the defaults unless set. */
  readonly orphans?: OrphanSweepConfig;
  /** Defaults to the namespace's JetStream object store bucket. */
  readonly blobs?: BlobStore;
  readonly clock?: () => Date;
  readonly random?: () => number;
  readonly newId?: () => string;
  readonly logger?: LoggerService | LogLevel[] | false;
  readonly log?: (event: string, fields?: Readonly<Record<string, unknown>>) => void;
}

export interface StagingApp {
  /** The base URL the signed URLs carry. */
  readonly url: string;
  /** One pass of the orphan sweep now (tests; the timer runs it otherwise). */
  sweepOrphans(): Promise<{ readonly ran: boolean; readonly deleted: readonly string[] }>;
  close(): Promise<void>;
}

/** B1: staged bytes are charged to the tenant on its stream, by admission. */
const admissionMeter = (nc: NatsConnection, subjects: SubjectCatalogue): StorageMeter => {
  const send = (verb: string, type: string, tenant: string, data: Record<string, unknown>) =>
    sendCommand<{ charged: boolean }>(
      nc,
      subjects,
      'admission',
      verb,
      commandEnvelope(
        type,
        { id: tenant, ...data },
        {
          tenant,
          actor: 'staging',
          correlationId: randomUUID(),
        },
      ),
      { timeoutMs: 10_000 },
    );
  return {
    charge: async (tenant, fileId, bytes) =>
      (await send('charge-storage', 'ChargeStorage', tenant, { fileId, bytes })).charged,
    release: async (tenant, fileId) => {
      await send('release-storage', 'ReleaseStorage', tenant, { fileId });
    },
  };
};

/** Staging: its command handlers on NATS and its blob routes on HTTP, started together. */
export const startStagingApp = async (options: StagingAppOptions): Promise<StagingApp> => {
  const log = options.log ?? (() => undefined);
  const blobs = options.blobs ?? (await NatsBlobStore.open(options.nc, options.subjects));
  const sink = new PostgresProjectionSink(options.pool, stagedFilesProjection, options.store);
  // Mends what a crash between an append and its projection left behind.
  const caughtUp = await catchUpProjection(options.store, sink);
  if (caughtUp.eventsApplied > 0) log('projection_caught_up', { ...caughtUp });

  let publicUrl = options.http.publicUrl ?? '';
  const files = new StagedFiles({
    store: options.store,
    blobs,
    sink,
    secret: options.http.secret,
    maxUploadBytes: options.http.maxUploadBytes,
    publicUrl: () => publicUrl,
    clock: options.clock ?? (() => new Date()),
    random: options.random ?? Math.random,
    newId: options.newId ?? randomUUID,
    onProjectionError: (err) => log('projection_error', { error: String(err) }),
    meter: admissionMeter(options.nc, options.subjects),
  });

  const server = createBlobServer(files, (err) =>
    log('internal_error', { error: err instanceof Error ? err.stack : String(err) }),
  );
  await server.listen({ port: options.http.port, host: options.http.host });
  const { port } = server.server.address() as AddressInfo;
  if (publicUrl === '') publicUrl = `http://127.0.0.1:${port}`;
  log('blobs_listening', { url: publicUrl });

  const app = await NestFactory.createMicroservice<MicroserviceOptions>(
    StagingModule.register(files),
    {
      strategy: new JetStreamServer({
        nats: options.nc,
        subjects: options.subjects,
        service: 'staging',
      }),
      logger: options.logger ?? ['log', 'warn', 'error'],
    },
  );
  app.useGlobalFilters(new GantryRpcExceptionFilter());
  await app.listen();

  const orphans = new OrphanSweep({
    pool: options.pool,
    store: options.store,
    files,
    clock: options.clock ?? (() => new Date()),
    graceMs: options.orphans?.graceMs ?? DEFAULT_ORPHAN_GRACE_SECONDS * 1_000,
    intervalMs: options.orphans?.intervalMs ?? DEFAULT_ORPHAN_SWEEP_SECONDS * 1_000,
    log,
  });
  orphans.start();

  return {
    url: publicUrl,
    sweepOrphans: () => orphans.sweep(),
    close: async () => {
      await orphans.stop();
      await app.close();
      await server.close();
    },
  };
};
