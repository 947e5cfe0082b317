import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { createSubjects, type SubjectCatalogue } from '@gantry/contracts';
import { connectNats, deleteStreams } from '@gantry/messaging';
import {
  createTestDatabase,
  resolveServerUrls,
  uniqueName,
  WORKSPACE_ROOT,
  type TestDatabase,
} from '@gantry/testing';
import { GatewayClient, startPlatform, type AgentSpec, type Platform } from '../src';

/** Everything an end-to-end suite runs against, and the one way to tear it down. */
export interface E2ePlatform {
  readonly platform: Platform;
  readonly db: TestDatabase;
  readonly subjects: SubjectCatalogue;
  /** For what a test does on the bus itself (a zombie's stale report, say). */
  readonly nc: NatsConnection;
  readonly workRoot: string;
  readonly admin: GatewayClient;
  /** The tenant `acme`, with room for the suite's jobs. */
  readonly tenant: GatewayClient;
  stop(): Promise<void>;
}

/**
 * Every service and the given agents as real processes, on a database, a namespace and a work
 * root of the suite's own on the local servers; `stop` removes all of them.
 */
export const startE2ePlatform = async (
  name: string,
  agents: readonly AgentSpec[],
  env: Readonly<Record<string, string>> = {},
): Promise<E2ePlatform> => {
  const db = await createTestDatabase(`gantry_${name}`);
  const subjects = createSubjects(uniqueName(name.replace(/[^a-z0-9]/g, '')));
  const workRoot = mkdtempSync(join(tmpdir(), `gantry-${name}-`));
  // Jobs run as an unprivileged user when the agents run as root: they must traverse the root.
  chmodSync(workRoot, 0o711);
  const { natsUrl } = resolveServerUrls();
  const nc = await connectNats(natsUrl, `${name}-e2e`);
  let platform: Platform | undefined;
  const stop = async (): Promise<void> => {
    await platform?.stop();
    await deleteStreams(await jetstreamManager(nc), subjects);
    await nc.close();
    await db.drop();
    rmSync(workRoot, { recursive: true, force: true });
  };
  try {
    platform = await startPlatform({
      workspaceRoot: WORKSPACE_ROOT,
      databaseUrl: db.url,
      natsUrl,
      namespace: subjects.namespace,
      adminToken: 'e2e-admin-token',
      workRoot,
      agents,
      env,
    });
    const admin = new GatewayClient(platform.gatewayUrl, platform.adminToken);
    const tenant = admin.as(await admin.createTenant('acme', { cores: 64, concurrentJobs: 100 }));
    return { platform, db, subjects, nc, workRoot, admin, tenant, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
};
