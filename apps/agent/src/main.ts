import { createSubjects } from '@gantry/contracts';
import { connectNats } from '@gantry/messaging';
import { startAgent, type Agent, type AgentLog } from './agent';
import { AgentConfigError, readAgentConfig } from './config';
import { natsInputResolver } from './inputs';
import { natsFileCreator } from './outputs';

const log: AgentLog = (event, fields = {}) => {
  process.stdout.write(
    `${JSON.stringify({ time: new Date().toISOString(), service: 'agent', event, ...fields })}\n`,
  );
};

/**
 * The node agent as a process. On SIGTERM it stops heartbeating and exits, and leaves its running
 * ranks alone: whether they may go on is their lease's call, not the agent's. A restarted agent (an
 * upgrade) is told about them by its heartbeat reply; one that never comes back lets their leases
 * lapse, and the scheduler reaps them and the controller retries the job elsewhere. Killing them here
 * would turn every agent restart into failed attempts. A second signal forces the exit.
 */
const main = async (): Promise<void> => {
  let config;
  try {
    config = readAgentConfig(process.env);
  } catch (err) {
    if (err instanceof AgentConfigError) {
      log('config-invalid', { error: err.message });
      process.exit(2);
    }
    throw err;
  }
  const subjects = createSubjects(config.namespace);
  const nc = await connectNats(config.natsUrl, `gantry-agent-${config.nodeId}`);
  const started: { agent?: Agent } = {};
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log('forced-exit', { signal });
      process.exit(1);
    }
    stopping = true;
    log('stopping', { signal, running: started.agent?.running().length ?? 0 });
    void (async () => {
      await started.agent?.close();
      await nc.drain().catch(() => undefined);
      log('stopped');
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  log('enrolling', { nodeId: config.nodeId, pools: config.pools, workRoot: config.workRoot });
  started.agent = await startAgent({
    nc,
    subjects,
    nodeId: config.nodeId,
    hostname: config.hostname,
    pools: config.pools,
    capacity: { cpu: config.cpu, memoryMiB: config.memoryMiB, gpu: config.gpu },
    labels: config.labels,
    workRoot: config.workRoot,
    enrolToken: config.enrolToken,
    keepWorkDirs: config.keepWorkDirs,
    preemptGraceMs: config.preemptGraceMs,
    inputResolver: natsInputResolver(nc, subjects, `agent:${config.nodeId}`),
    fileCreator: natsFileCreator(nc, subjects, `agent:${config.nodeId}`),
    log,
  });
  if (stopping) return;
  log('started', { nodeId: config.nodeId, namespace: config.namespace });
};

main().catch((err: unknown) => {
  log('crashed', { error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
