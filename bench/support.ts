import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { createSubjects, type SubjectCatalogue } from '@gantry/contracts';
import { connectNats, deleteStreams } from '@gantry/messaging';
import { startPlatform, type AgentSpec, type Platform } from '@gantry/platform';
import { createTestDatabase, resolveServerUrls, uniqueName, WORKSPACE_ROOT } from '@gantry/testing';

export interface BenchPlatform {
  readonly platform: Platform;
  readonly nc: NatsConnection;
  readonly subjects: SubjectCatalogue;
  /** The run's own database, for figures read from the event store. */
  readonly databaseUrl: string;
}

/**
 * The whole platform for one benchmark run: its own database, namespace and work root on the
 * local servers, and a NATS connection for baselines; everything removed afterwards.
 */
export const withBenchPlatform = async (
  name: string,
  agents: readonly AgentSpec[],
  run: (bench: BenchPlatform) => Promise<void>,
): Promise<void> => {
  const { natsUrl } = resolveServerUrls();
  const db = await createTestDatabase(`gantry_bench_${name}`);
  const subjects = createSubjects(uniqueName(`bench${name}`));
  const workRoot = mkdtempSync(join(tmpdir(), `gantry-bench-${name}-`));
  // Jobs run as an unprivileged user when the agents run as root: they must traverse the root.
  chmodSync(workRoot, 0o711);
  const nc = await connectNats(natsUrl, `bench-${name}`);
  let platform: Platform | undefined;
  try {
    platform = await startPlatform({
      workspaceRoot: WORKSPACE_ROOT,
      databaseUrl: db.url,
      natsUrl,
      namespace: subjects.namespace,
      adminToken: 'bench-admin',
      workRoot,
      agents,
    });
    await run({ platform, nc, subjects, databaseUrl: db.url });
  } finally {
    await platform?.stop();
    await deleteStreams(await jetstreamManager(nc), subjects);
    await nc.close();
    await db.drop();
    rmSync(workRoot, { recursive: true, force: true });
  }
};
