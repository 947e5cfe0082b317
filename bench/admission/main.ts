import { commandEnvelope, sendCommand } from '@gantry/messaging';
import { GatewayClient } from '@gantry/platform';
import { withBenchPlatform } from '../support';

/**
 * Admission decision latency (issue 4): the `admission.submit` round trip, which records the job,
 * decides the quotas on the tenant's stream and admits and queues it (or rejects it), measured
 * at 1, 8 and 64 concurrent submitters of one tenant against the running services. The baseline
 * in the same run: a bare NATS request/reply round trip at the same concurrency.
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
  withBenchPlatform('admission', [], async ({ platform, nc, subjects }) => {
    const admin = new GatewayClient(platform.gatewayUrl, platform.adminToken);
    await admin.createTenant('bench', { cores: 1_000_000, concurrentJobs: 10_000_000 });
    const submit = (): Promise<unknown> =>
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
          { tenant: 'bench', actor: 'bench' },
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

    await measure(50, 4, submit); // warm-up: connections, prepared statements, JIT
    console.log(`\n== admission.submit decision latency, ${PER_LEVEL} per level ==`);
    console.log(
      `${'submitters'.padEnd(12)}${'admission p50 / p99'.padEnd(28)}${'bare NATS req/reply p50 / p99'.padEnd(34)}p99 ratio`,
    );
    for (const concurrency of LEVELS) {
      const decided = await measure(PER_LEVEL, concurrency, submit);
      const bare = await measure(PER_LEVEL, concurrency, () => nc.request(echoSubject, payload));
      console.log(
        `${String(concurrency).padEnd(12)}${`${ms(percentile(decided, 50))} / ${ms(percentile(decided, 99))}`.padEnd(28)}` +
          `${`${ms(percentile(bare, 50))} / ${ms(percentile(bare, 99))}`.padEnd(34)}` +
          `${(percentile(decided, 99) / percentile(bare, 99)).toFixed(1)}x`,
      );
    }
    echo.unsubscribe();
  });

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
