import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { ensureServers, formatEnsureReport } from '@gantry/bootstrap';
import { freePort, GatewayClient, startPlatform, type Platform } from '@gantry/platform';

/**
 * `npm start`: the whole platform on this machine. It brings up Postgres and NATS (reusing or
 * starting them), starts every service and two local agents (pool `cpu`) as real processes,
 * creates a demo tenant, uploads an input file, submits a 2-node job, follows its logs until it
 * ends, and leaves the platform running with its URLs and the demo key printed (`--exit` stops
 * it instead, which is what the end-to-end test of this command uses).
 */
const USAGE = `usage: npm start [-- --exit] [--port 8080] [--database gantry] [--namespace gantry]`;
const say = (line: string): void => console.log(line);

const ensureDatabase = async (serverUrl: string, name: string): Promise<string> => {
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

/** The port asked for when it is free, another one when something else holds it. */
const portFor = async (wanted: number): Promise<number> => {
  const probe = await import('node:net');
  const free = await new Promise<boolean>((resolve) => {
    const server = probe.createServer();
    server.once('error', () => resolve(false));
    server.listen(wanted, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  return free ? wanted : freePort();
};

const SAMPLE_SCRIPT = [
  'echo "rank $GANTRY_RANK of $GANTRY_WORLD_SIZE: hosts=$GANTRY_HOSTS coordinator=$GANTRY_COORDINATOR"',
  'echo "rank $GANTRY_RANK read its input: $(cat inputs/greeting.txt)"',
  'for step in 1 2 3; do echo "rank $GANTRY_RANK step $step/3"; sleep 0.3; done',
  'echo "rank $GANTRY_RANK done"',
].join('\n');

const demoKey = async (admin: GatewayClient, tenant: string): Promise<string> => {
  const created = await admin.call<{ apiKey: string }>('POST', '/v1/admin/tenants', {
    body: { id: tenant, name: 'Demo tenant', quotas: { cores: 64, concurrentJobs: 100 } },
  });
  if (created.status === 201) return created.body.apiKey;
  if (created.status !== 409) throw new Error(`create tenant: ${created.status} ${created.text}`);
  // A database from an earlier run: its key was shown then; rotate to get one now.
  const rotated = await admin.call<{ apiKey: string }>('POST', `/v1/admin/tenants/${tenant}/keys`);
  if (rotated.status !== 201) throw new Error(`rotate key: ${rotated.status} ${rotated.text}`);
  return rotated.body.apiKey;
};

const runSample = async (platform: Platform, log: typeof say): Promise<string> => {
  const admin = new GatewayClient(platform.gatewayUrl, platform.adminToken);
  const apiKey = await demoKey(admin, 'demo');
  const tenant = admin.as(apiKey);

  const upload = await tenant.call<{ id: string; sha256: string }>(
    'POST',
    '/v1/files?name=greeting.txt',
    {
      raw: 'hello from a staged input file',
      headers: { 'content-type': 'application/octet-stream' },
    },
  );
  if (upload.status !== 201) throw new Error(`upload: ${upload.status} ${upload.text}`);
  log(`[demo] uploaded greeting.txt as ${upload.body.id} (sha256 ${upload.body.sha256})`);

  const submitted = await tenant.submit({
    name: 'hello-gang',
    command: ['sh', '-c', SAMPLE_SCRIPT],
    nodes: 2,
    resources: { cpu: 1, memoryMiB: 256 },
    pool: 'cpu',
    inputs: [{ name: 'greeting', ref: upload.body.id, path: 'inputs/greeting.txt' }],
  });
  if (submitted.status !== 201) throw new Error(`submit: ${submitted.status} ${submitted.text}`);
  const jobId = submitted.body.id;
  log(`[demo] submitted 2-node job ${jobId}: ${submitted.body.state}`);

  await tenant.followLogs(jobId, (event) => {
    if (event.event !== 'log') return;
    const chunk = JSON.parse(event.data) as { rank: number; attempt: number; data: string };
    for (const line of chunk.data.replace(/\n$/, '').split('\n')) {
      log(`[job ${jobId.slice(0, 8)} attempt ${chunk.attempt} rank ${chunk.rank}] ${line}`);
    }
  });
  const job = await tenant.waitForJob(jobId);
  log(
    `[demo] job ${jobId}: ${job.state}; attempts ${String(job['attempts'])}, nodes ${JSON.stringify(
      job['assignedNodes'],
    )}, exit codes ${JSON.stringify(job['exitCodes'])}`,
  );
  if (job.state !== 'SUCCEEDED') throw new Error(`the sample job ended ${job.state}`);
  return apiKey;
};

const main = async (): Promise<void> => {
  const { values } = parseArgs({
    options: {
      exit: { type: 'boolean', default: false },
      port: { type: 'string', default: '8080' },
      database: { type: 'string', default: 'gantry' },
      namespace: { type: 'string', default: 'gantry' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return say(USAGE);

  const servers = await ensureServers({ log: say });
  formatEnsureReport(servers).forEach(say);
  const databaseUrl = await ensureDatabase(servers.postgres.url, values.database);
  const adminToken = process.env['GANTRY_ADMIN_TOKEN'] || randomBytes(18).toString('base64url');
  const gatewayPort = await portFor(Number(values.port));

  say('[demo] starting the services and two agents (pool cpu)...');
  const startedAt = Date.now();
  const platform = await startPlatform({
    workspaceRoot: join(__dirname, '..', '..', '..'),
    databaseUrl,
    natsUrl: servers.nats.url,
    namespace: values.namespace,
    adminToken,
    gatewayPort,
    workRoot: join(tmpdir(), 'gantry-demo', values.namespace),
    agents: [
      { nodeId: 'node-1', pools: ['cpu'], cpu: 2, memoryMiB: 2048 },
      { nodeId: 'node-2', pools: ['cpu'], cpu: 2, memoryMiB: 2048 },
    ],
  });
  say(`[demo] platform up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);

  let failed = false;
  try {
    const apiKey = await runSample(platform, say);
    say('');
    say(`Gantry is running.`);
    say(
      `  API:      ${platform.gatewayUrl}/v1   (OpenAPI: ${platform.gatewayUrl}/v1/openapi.json)`,
    );
    say(`  demo key: ${apiKey}`);
    say(`  admin:    ${adminToken}`);
    say(
      `  try:      curl -H "Authorization: Bearer ${apiKey}" ${platform.gatewayUrl}/v1/nodepools`,
    );
  } catch (err) {
    failed = true;
    console.error(`[demo] ${err instanceof Error ? err.message : String(err)}`);
    console.error(platform.describe());
  }

  if (values.exit || failed) {
    await platform.stop();
    process.exitCode = failed ? 1 : 0;
    return;
  }
  say('Press Ctrl-C to stop.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  say('[demo] stopping...');
  await platform.stop();
};

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
