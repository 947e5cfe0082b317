import { spawn } from 'node:child_process';
import { GatewayClient } from '@gantry/platform';
import { withBenchPlatform } from '../support';

/**
 * The lifecycle's figures (issue 3), through the running platform: every service and two local
 * agents as real processes, driven over the REST API, with a baseline measured in the same run
 * for each figure so the ratios mean something on a noisy 2-core box.
 *
 *  1. 1,000 trivial jobs (`true`): submit-to-SUCCEEDED throughput and latency p50/p99, and the
 *     placement latency under that load (JobQueued to JobLeased: the scheduler hears the job,
 *     places it with the core and has the controller lease it; issue 5).
 *     Baseline: the same number of `true` processes spawned straight from Node, 2 at a time.
 *  2. Submit-to-RUNNING p99 at a paced 5 jobs/s, and the admission decision (JobSubmitted to
 *     JobQueued or JobRejected) p99. Baseline: a bare NATS request/reply round trip.
 *  3. Log emit-to-follower p99: a job prints its clock every 20 ms, a follower on SSE compares.
 *     Baseline: a bare NATS publish-to-subscriber hop.
 * Usage: node tools/run.js bench/lifecycle/main.ts [jobs=1000] [paced seconds=20]
 */
const JOBS = Number(process.argv[2] ?? 1_000);
const PACED_SECONDS = Number(process.argv[3] ?? 20);

const now = (): number => performance.timeOrigin + performance.now();
const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};
const ms = (value: number): string => `${value.toFixed(1)} ms`;
const line = (label: string, value: string): void => console.log(`${label.padEnd(52)} ${value}`);

interface EventView {
  readonly type: string;
  readonly occurredAt: string;
}

const timesOf = async (
  client: GatewayClient,
  jobId: string,
): Promise<Partial<Record<string, number>>> => {
  const reply = await client.call<{ events: EventView[] }>('GET', `/v1/jobs/${jobId}/events`);
  const times: Partial<Record<string, number>> = {};
  for (const event of reply.body.events) times[event.type] ??= Date.parse(event.occurredAt);
  return times;
};

const spawnTrue = (): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn('true', [], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });

const baselineSpawn = async (count: number): Promise<number> => {
  const started = now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      await spawnTrue();
    }
  };
  await Promise.all([lane(), lane()]);
  return count / ((now() - started) / 1_000);
};

const main = (): Promise<void> =>
  withBenchPlatform(
    'lifecycle',
    ['node-1', 'node-2'].map((nodeId) => ({ nodeId, cpu: 64, memoryMiB: 65_536 })),
    async ({ platform, nc, subjects }) => {
      const admin = new GatewayClient(platform.gatewayUrl, platform.adminToken);
      const tenant = admin.as(
        await admin.createTenant('bench', { cores: 100_000, concurrentJobs: 100_000 }),
      );
      const trivial = { command: ['true'], resources: { cpu: 0.1, memoryMiB: 16 } };

      // 1. Throughput: submit everything as fast as 16 clients can, then wait for the last.
      console.log(`\n== ${JOBS} trivial jobs on two agents ==`);
      const started = now();
      const ids: string[] = [];
      let cursor = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (cursor < JOBS) {
            cursor += 1;
            const reply = await tenant.submit(trivial);
            if (reply.status !== 201) throw new Error(`submit: ${reply.status} ${reply.text}`);
            ids.push(reply.body.id);
          }
        }),
      );
      const submittedIn = (now() - started) / 1_000;
      for (const id of ids) await tenant.waitForJob(id, (s) => s === 'SUCCEEDED', 600_000);
      const elapsed = (now() - started) / 1_000;
      const latencies: number[] = [];
      const placements: number[] = [];
      for (const id of ids) {
        const t = await timesOf(tenant, id);
        latencies.push(t['JobSucceeded']! - t['JobSubmitted']!);
        placements.push(t['JobLeased']! - t['JobQueued']!);
      }
      const baselineRate = await baselineSpawn(JOBS);
      line('submitted (16 clients)', `${(JOBS / submittedIn).toFixed(0)} jobs/s`);
      line('submit-to-SUCCEEDED throughput', `${(JOBS / elapsed).toFixed(0)} jobs/s`);
      line('  baseline: bare spawn of `true`, 2 at a time', `${baselineRate.toFixed(0)} jobs/s`);
      line('  ratio Gantry / bare spawn', (JOBS / elapsed / baselineRate).toFixed(3));
      line(
        'submit-to-SUCCEEDED latency p50 / p99',
        `${ms(percentile(latencies, 50))} / ${ms(percentile(latencies, 99))}`,
      );
      line(
        'placement (JobQueued to JobLeased) p50 / p99',
        `${ms(percentile(placements, 50))} / ${ms(percentile(placements, 99))}`,
      );

      // 2. Paced submissions: how long a job waits to run when the platform is not saturated.
      console.log(`\n== paced 5 jobs/s for ${PACED_SECONDS} s ==`);
      const paced: string[] = [];
      const sleeper = { command: ['sleep', '0.2'], resources: { cpu: 0.1, memoryMiB: 16 } };
      const pacedFrom = now();
      for (let i = 0; i < PACED_SECONDS * 5; i += 1) {
        const wait = pacedFrom + i * 200 - now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const reply = await tenant.submit(sleeper);
        if (reply.status !== 201) throw new Error(`submit: ${reply.status} ${reply.text}`);
        paced.push(reply.body.id);
      }
      for (const id of paced) await tenant.waitForJob(id, (s) => s === 'SUCCEEDED', 120_000);
      const toRunning: number[] = [];
      const admission: number[] = [];
      for (const id of paced) {
        const t = await timesOf(tenant, id);
        toRunning.push(t['JobStarted']! - t['JobSubmitted']!);
        admission.push((t['JobQueued'] ?? t['JobRejected']!) - t['JobSubmitted']!);
      }
      const rtts: number[] = [];
      const echo = nc.subscribe(`${subjects.namespace}.bench.echo`, {
        callback: (_err, msg) => {
          msg.respond(msg.data);
        },
      });
      for (let i = 0; i < 500; i += 1) {
        const t0 = now();
        await nc.request(`${subjects.namespace}.bench.echo`, new Uint8Array(256));
        rtts.push(now() - t0);
      }
      echo.unsubscribe();
      line(
        'submit-to-RUNNING p50 / p99',
        `${ms(percentile(toRunning, 50))} / ${ms(percentile(toRunning, 99))}`,
      );
      line(
        'admission decision p50 / p99',
        `${ms(percentile(admission, 50))} / ${ms(percentile(admission, 99))}`,
      );
      line(
        '  baseline: bare NATS request/reply p50 / p99',
        `${ms(percentile(rtts, 50))} / ${ms(percentile(rtts, 99))}`,
      );

      // 3. Logs: the job's own clock against the follower's.
      console.log('\n== log emit-to-follower ==');
      const chatty = await tenant.submit({
        command: [
          'sh',
          '-c',
          'for i in $(seq 1 250); do echo "t=$(date +%s%3N)"; sleep 0.02; done',
        ],
        resources: { cpu: 0.1, memoryMiB: 16 },
      });
      const logLatency: number[] = [];
      await tenant.followLogs(chatty.body.id, (event) => {
        if (event.event !== 'log') return;
        const received = Date.now();
        const data = (JSON.parse(event.data) as { data: string }).data;
        for (const match of data.matchAll(/t=(\d+)/g)) logLatency.push(received - Number(match[1]));
      });
      const hops: number[] = [];
      const hopSubject = `${subjects.namespace}.bench.hop`;
      const done = new Promise<void>((resolve) => {
        nc.subscribe(hopSubject, {
          max: 250,
          callback: (_err, msg) => {
            hops.push(Date.now() - Number(new TextDecoder().decode(msg.data)));
            if (hops.length === 250) resolve();
          },
        });
      });
      for (let i = 0; i < 250; i += 1) {
        nc.publish(hopSubject, String(Date.now()));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await done;
      line(
        'log emit-to-follower p50 / p99',
        `${ms(percentile(logLatency, 50))} / ${ms(percentile(logLatency, 99))}`,
      );
      line(
        '  baseline: bare NATS publish-to-subscriber p50 / p99',
        `${ms(percentile(hops, 50))} / ${ms(percentile(hops, 99))}`,
      );
    },
  );

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
