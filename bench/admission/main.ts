import { Pool } from 'pg';
import { commandEnvelope, sendCommand } from '@gantry/messaging';
import { GatewayClient } from '@gantry/platform';
import { withBenchPlatform } from '../support';

/**
 * Admission decision latency (issue 4) at 1, 8 and 64 concurrent submitters against the running
 * services, two ways:
 * - the decision: from the job being recorded (JobSubmitted) to its verdict on the tenant's stream
 *   (JobCapacityReserved: quotas, per-pool GPUs and budget decided and appended), read back from
 *   the event store;
 * - the whole `admission.submit` round trip, which also records the job and admits and queues it.
 * Each level runs with one tenant (all decisions on one stream) and with the submitters spread
 * over 8 tenants. The baseline in the same run: a bare NATS request/reply round trip.
 * Usage: node tools/run.js bench/admission/main.ts [decisions per level=400]
 */
const PER_LEVEL = Number(process.argv[2] ?? 400);
const LEVELS = [1, 8, 64];

const now = (): number => performance.timeOrigin + performance.now();
const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};
const ms = (value: number): string => `${value.toFixed(1)} ms`;

/** `total` calls of `once`, `concurrency` at a time; the latency of each. */
const measure = async (
  total: number,
  concurrency: number,
  once: () => Promise<unknown>,
): Promise<number[]> => {
  const latencies: number[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started += 1;
        const t0 = now();
        await once();
        latencies.push(now() - t0);
      }
    }),
  );
  return latencies;
};

const main = (): Promise<void> =>
  // No agents: the jobs stay queued, so only admission's work is measured.
  withBenchPlatform('admission', [], async ({ platform, nc, subjects, databaseUrl }) => {
    const admin = new GatewayClient(platform.gatewayUrl, platform.adminToken);
    const TENANTS = Array.from({ length: 8 }, (_, i) => `bench-${i}`);
    for (const tenant of TENANTS)
      await admin.createTenant(tenant, { cores: 1_000_000, concurrentJobs: 10_000_000 });
    // Priced and budgeted, so the decision does all its work: quotas, then the budget guard.
    await admin.call('PUT', '/v1/admin/pools/cpu/prices', { body: { coreHour: 1 } });
    for (const tenant of TENANTS)
      await admin.call('PUT', `/v1/admin/tenants/${tenant}/budget`, { body: { monthly: 1e9 } });
    const pool = new Pool({ connectionString: databaseUrl, max: 2 });
    /** JobSubmitted -> JobCapacityReserved of the jobs submitted since `since`, in ms. */
    const decisionsSince = async (since: Date): Promise<number[]> => {
      const { rows } = await pool.query<{ ms: number }>(
        `SELECT extract(epoch FROM (r.data->>'reservedAt')::timestamptz - s.occurred_at) * 1000 AS ms
           FROM events r
           JOIN events s ON s.stream_id = 'job-' || (r.data->>'jobId') AND s.type = 'JobSubmitted'
          WHERE r.type = 'JobCapacityReserved' AND r.occurred_at >= $1`,
        [since],
      );
      return rows.map((r) => Number(r.ms));
    };
    let turn = 0;
    const submitAs = (tenants: readonly string[]) => (): Promise<unknown> =>
      sendCommand(
        nc,
        subjects,
        'admission',
        'submit',
        commandEnvelope(
          'SubmitJob',
          {
            spec: { command: ['true'], resources: { cpu: 1, memoryMiB: 64 } },
            idempotencyKey: null,
          },
          { tenant: tenants[turn++ % tenants.length]!, actor: 'bench' },
        ),
        { timeoutMs: 30_000 },
      );
    const echoSubject = `${subjects.namespace}.bench.echo`;
    const echo = nc.subscribe(echoSubject, {
      callback: (_err, msg) => {
        msg.respond(msg.data);
      },
    });
    const payload = new Uint8Array(512);

    await measure(50, 4, submitAs(TENANTS)); // warm-up: connections, prepared statements, JIT
    console.log(`\n== admission decision latency, ${PER_LEVEL} per level ==`);
    const pair = (values: readonly number[]): string =>
      `${ms(percentile(values, 50))} / ${ms(percentile(values, 99))}`;
    console.log(
      `${'submitters'.padEnd(12)}${'tenants'.padEnd(9)}${'decision p50 / p99'.padEnd(24)}` +
        `${'submit round trip p50 / p99'.padEnd(30)}${'bare NATS p50 / p99'.padEnd(24)}decision p99 / NATS p99`,
    );
    for (const concurrency of LEVELS) {
      for (const tenants of [TENANTS.slice(0, 1), TENANTS]) {
        const since = new Date();
        const submitted = await measure(PER_LEVEL, concurrency, submitAs(tenants));
        const decided = await decisionsSince(since);
        const bare = await measure(PER_LEVEL, concurrency, () => nc.request(echoSubject, payload));
        console.log(
          `${String(concurrency).padEnd(12)}${String(tenants.length).padEnd(9)}${pair(decided).padEnd(24)}` +
            `${pair(submitted).padEnd(30)}${pair(bare).padEnd(24)}` +
            `${(percentile(decided, 99) / percentile(bare, 99)).toFixed(1)}x`,
        );
      }
    }
    echo.unsubscribe();
    await pool.end();
  });

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
