import { createHash } from 'node:crypto';
import { GatewayClient, type Platform } from '../src';
import { startE2ePlatform, type E2ePlatform } from './e2e-platform';

/**
 * D4 and D7 through the public API, every service and an agent as processes: a job's outputs are
 * committed with its success, shown on the job and downloadable through a signed URL; a job that
 * checkpointed and failed resumes from its checkpoint on the retry.
 */
let e2e: E2ePlatform;
let platform: Platform;
let tenant: GatewayClient;

beforeAll(async () => {
  e2e = await startE2ePlatform('e2e_outputs', [
    { nodeId: 'node-a', pools: ['cpu'], cpu: 4, memoryMiB: 4096 },
  ]);
  ({ platform, tenant } = e2e);
});

afterAll(() => e2e?.stop());

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
