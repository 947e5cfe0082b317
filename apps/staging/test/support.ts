import { type INestMicroservice } from '@nestjs/common';
import { type TenantQuotas } from '@gantry/contracts';
import { eventStoreMigrations } from '@gantry/event-store';
import { messagingMigrations, sendCommand } from '@gantry/messaging';
import { projectionMigrations, stagedFilesMigrations } from '@gantry/projections';
import {
  aCommandEnvelope,
  createServiceTestBed,
  type ServiceTestBed,
} from '@gantry/service-testing';
// Staged bytes are charged by admission (B1); in-process, so the test owns its lifetime.
// eslint-disable-next-line @nx/enforce-module-boundaries -- a test-only seam
import { startAdmissionApp } from '../../admission/src/app';
import { startStagingApp, type StagingApp, type StagingAppOptions } from '../src/app';
import { NatsBlobStore } from '../src/blob-store';

/** Staging in-process on real Postgres and NATS, with admission to charge its bytes to. */
export interface StagingTestBed {
  readonly bed: ServiceTestBed;
  readonly blobs: NatsBlobStore;
  readonly admission: INestMicroservice;
  readonly app: StagingApp;
  close(): Promise<void>;
}

export const startStagingTestBed = async (options: {
  readonly name: string;
  readonly tenants: Readonly<Record<string, Partial<TenantQuotas>>>;
  readonly secret: string;
  readonly maxUploadBytes: number;
  readonly clock: () => Date;
  readonly orphans?: StagingAppOptions['orphans'];
}): Promise<StagingTestBed> => {
  const bed = await createServiceTestBed({
    name: options.name,
    migrations: [
      ...eventStoreMigrations,
      ...messagingMigrations,
      ...projectionMigrations,
      ...stagedFilesMigrations,
    ],
  });
  const blobs = await NatsBlobStore.open(bed.nc, bed.subjects);
  const admission = await startAdmissionApp({
    nats: bed.nc,
    subjects: bed.subjects,
    store: bed.store,
    logger: false,
  });
  for (const [id, quotas] of Object.entries(options.tenants))
    await sendCommand(
      bed.nc,
      bed.subjects,
      'admission',
      'create-tenant',
      aCommandEnvelope(
        'CreateTenant',
        { id, name: id, quotas },
        { tenant: '_system', actor: 'admin' },
      ),
      { timeoutMs: 15_000 },
    );
  const app = await startStagingApp({
    nc: bed.nc,
    subjects: bed.subjects,
    pool: bed.pool,
    store: bed.store,
    blobs,
    http: {
      port: 0,
      host: '127.0.0.1',
      publicUrl: undefined,
      secret: options.secret,
      maxUploadBytes: options.maxUploadBytes,
    },
    ...(options.orphans === undefined ? {} : { orphans: options.orphans }),
    clock: options.clock,
    logger: process.env.GANTRY_TEST_LOGS ? ['log', 'warn', 'error'] : false,
  });
  return {
    bed,
    blobs,
    admission,
    app,
    close: async () => {
      await app.close();
      await admission.close();
      await blobs.destroy().catch(() => undefined);
      await bed.close();
    },
  };
};
