import { createHash } from 'node:crypto';
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
import { GatewayClient, startPlatform, type Platform } from '../src';

/**
 * D4 and D7 through the public API, every service and an agent as processes: a job's outputs are
 * committed with its success, shown on the job and downloadable through a signed URL; a job that
 * checkpointed and failed resumes from its checkpoint on the retry.
 */
let db: TestDatabase;
let subjects: SubjectCatalogue;
let nc: NatsConnection;
let platform: Platform;
let workRoot: string;
let tenant: GatewayClient;

beforeAll(async () => {
  db = await createTestDatabase('gantry_e2e_outputs');
  subjects = createSubjects(uniqueName('e2eout'));
  workRoot = mkdtempSync(join(tmpdir(), 'gantry-e2e-outputs-'));
  chmodSync(workRoot, 0o711);
  const { natsUrl } = resolveServerUrls();
  nc = await connectNats(natsUrl, 'outputs-e2e');
  platform = await startPlatform({
    workspaceRoot: WORKSPACE_ROOT,
    databaseUrl: db.url,
    natsUrl,
    namespace: subjects.namespace,
    adminToken: 'e2e-admin-token',
    workRoot,
    agents: [{ nodeId: 'node-a', pools: ['cpu'], cpu: 4, memoryMiB: 4096 }],
  });
  const admin = new GatewayClient(platform.gatewayUrl, platform.adminToken);
  tenant = admin.as(await admin.createTenant('acme', { cores: 64, concurrentJobs: 100 }));
});

afterAll(async () => {
  await platform?.stop();
  if (nc) {
    await deleteStreams(await jetstreamManager(nc), subjects);
    await nc.close();
  }
  await db?.drop();
  rmSync(workRoot, { recursive: true, force: true });
});

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

const runToEnd = async (spec: Record<string, unknown>) => {
  const submitted = await tenant.submit({ resources: { cpu: 1, memoryMiB: 64 }, ...spec });
  expect(submitted.status).toBe(201);
  const job = await tenant.waitForJob(submitted.body.id);
  return { id: submitted.body.id, job };
};

const downloaded = async (jobId: string, name: string): Promise<string> => {
  const reply = await tenant.call<{ url: string; sha256: string }>(
    'GET',
    `/v1/jobs/${jobId}/outputs/${name}`,
  );
  expect(reply.status).toBe(200);
  const bytes = await fetch(reply.body.url);
  expect(bytes.status).toBe(200);
  return bytes.text();
};

describe('outputs and checkpoints through the API', () => {
  it('shows a succeeded job its committed outputs and serves their bytes', async () => {
    const { id, job } = await runToEnd({
      command: ['sh', '-c', 'printf hello > "$GANTRY_OUTPUT_DIR/result.txt"'],
    });

    expect(job.state).toBe('SUCCEEDED');
    expect(job['outputs']).toEqual([
      {
        name: 'result.txt',
        ref: expect.stringMatching(/^file-/),
        size: 5,
        sha256: sha('hello'),
        attempt: 1,
      },
    ]);
    expect(await downloaded(id, 'result.txt')).toBe('hello');
    const missing = await tenant.call('GET', `/v1/jobs/${id}/outputs/other.txt`);
    expect(missing.status).toBe(404);
    // Another tenant sees neither the job nor its outputs.
    const admin = new GatewayClient(platform.gatewayUrl, platform.adminToken);
    const other = admin.as(await admin.createTenant('globex'));
    expect((await other.call('GET', `/v1/jobs/${id}/outputs/result.txt`)).status).toBe(404);
  });

  it("counts downloads against the month's egress, and refuses one that would reach 90 % (B1)", async () => {
    const admin = new GatewayClient(platform.gatewayUrl, platform.adminToken);
    const metered = admin.as(
      await admin.createTenant('metered', { cores: 64, concurrentJobs: 100, egressBytes: 2_000 }),
    );
    const submitted = await metered.submit({
      resources: { cpu: 1, memoryMiB: 64 },
      command: ['sh', '-c', 'head -c 800 /dev/zero > "$GANTRY_OUTPUT_DIR/blob.bin"'],
    });
    expect((await metered.waitForJob(submitted.body.id)).state).toBe('SUCCEEDED');
    const path = `/v1/jobs/${submitted.body.id}/outputs/blob.bin`;
    expect((await metered.call('GET', path)).status).toBe(200);
    expect((await metered.call('GET', path)).status).toBe(200);
    // 1,600 downloaded + 800 would reach 2,400, past the 1,800 line.
    const refused = await metered.call('GET', path);
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      dimension: 'egressBytes',
      usage: 1_600,
      request: 800,
      limit: 2_000,
    });
    const usage = await metered.call<{ dimensions: Record<string, { used: number }> }>(
      'GET',
      '/v1/usage',
    );
    expect(usage.body.dimensions['egressBytes']!.used).toBe(1_600);
  });

  it('resumes a retried job from the checkpoint its failed attempt saved', async () => {
    const { id, job } = await runToEnd({
      retry: { maxAttempts: 2, initialBackoffSeconds: 0.1, maxBackoffSeconds: 0.1 },
      command: [
        'sh',
        '-c',
        [
          'if [ -n "$GANTRY_CHECKPOINT" ]; then cp "$GANTRY_CHECKPOINT" "$GANTRY_OUTPUT_DIR/resumed.txt"; exit 0; fi',
          'printf epoch-7 > state.ckpt',
          'echo "{\\"progress\\":0.7}" >> "$GANTRY_PROGRESS_FILE"',
          'echo "{\\"checkpoint\\":\\"state.ckpt\\"}" >> "$GANTRY_PROGRESS_FILE"',
          'exit 5',
        ].join('; '),
      ],
    });

    expect(job).toMatchObject({
      state: 'SUCCEEDED',
      attempts: 2,
      checkpoint: { name: 'state.ckpt', size: 7, sha256: sha('epoch-7'), attempt: 1 },
      outputs: [{ name: 'resumed.txt', sha256: sha('epoch-7'), attempt: 2 }],
    });
    expect(await downloaded(id, 'resumed.txt')).toBe('epoch-7');
  });
});
