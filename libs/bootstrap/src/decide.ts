/**
 * The bootstrap's decisions, apart from the probing and process handling that feed them, so
 * every branch is a table row in decide.spec.ts. Order of preference for each server:
 *
 *   1. the URL the environment names (DATABASE_URL / NATS_URL): if it does not answer that is
 *      an error, never a silent fallback, because whoever set it meant that server;
 *   2. a server this bootstrap started on an earlier run, still alive: its data lives in
 *      .gantry and its URL is the one already in servers.json;
 *   3. a server answering on the standard port (Postgres 5432 as user postgres, NATS 4222 with
 *      JetStream);
 *   4. start our own: on the standard port when nothing listens there, else on a free port.
 */

import { redactUrl } from './urls';

export type ServerKind = 'postgres' | 'nats';

/** What a probe found at a URL. */
export type Probe =
  | { readonly state: 'usable'; readonly version: string }
  /** Nothing listens there. */
  | { readonly state: 'closed' }
  /** Something listens but cannot be used: wrong credentials, no JetStream, another protocol. */
  | { readonly state: 'unusable'; readonly reason: string };

export interface ServerFacts {
  readonly server: ServerKind;
  readonly env?: { readonly variable: string; readonly url: string; readonly probe: Probe };
  /** What an earlier run started, per .gantry/bootstrap.json. */
  readonly recorded?: {
    readonly pid: number;
    readonly url: string;
    readonly alive: boolean;
    readonly probe: Probe;
  };
  /** Absent when the caller asked not to reuse the standard ports. */
  readonly standard?: { readonly url: string; readonly port: number; readonly probe: Probe };
  /** The port to start on if it comes to that; 0 means any free port. */
  readonly requestedPort?: number;
}

export type Source = 'env' | 'recorded' | 'standard';

export type ServerDecision =
  | {
      readonly action: 'use';
      readonly source: Source;
      readonly url: string;
      readonly version: string;
      readonly why: string;
    }
  | { readonly action: 'start'; readonly port: number | 'free'; readonly why: string }
  | { readonly action: 'fail'; readonly why: string };

const label = (server: ServerKind): string => (server === 'postgres' ? 'Postgres' : 'NATS');

const whyNot = (probe: Probe): string => {
  switch (probe.state) {
    case 'closed':
      return 'nothing listens there';
    case 'unusable':
      return probe.reason;
    case 'usable':
      return 'it answers';
    default: {
      const unreachable: never = probe;
      return unreachable;
    }
  }
};

export const decideServer = (facts: ServerFacts): ServerDecision => {
  const { server, env, recorded, standard } = facts;

  if (env) {
    return env.probe.state === 'usable'
      ? {
          action: 'use',
          source: 'env',
          url: env.url,
          version: env.probe.version,
          why: `${env.variable} is set`,
        }
      : {
          action: 'fail',
          why:
            `${env.variable} is set (${redactUrl(env.url)}) but ${label(server)} there cannot be used: ${whyNot(env.probe)}. ` +
            `Start that server, or unset ${env.variable} to let the bootstrap find or start one.`,
        };
  }

  if (recorded?.alive) {
    return recorded.probe.state === 'usable'
      ? {
          action: 'use',
          source: 'recorded',
          url: recorded.url,
          version: recorded.probe.version,
          why: `started by the bootstrap on an earlier run (pid ${recorded.pid})`,
        }
      : {
          // It still holds its data directory, so a second server cannot start beside it.
          action: 'fail',
          why:
            `the ${label(server)} the bootstrap started earlier (pid ${recorded.pid}) is running but cannot be used: ` +
            `${whyNot(recorded.probe)}. Run \`npm run bootstrap -- stop\`, then \`ensure\` again.`,
        };
  }

  if (standard?.probe.state === 'usable') {
    return {
      action: 'use',
      source: 'standard',
      url: standard.url,
      version: standard.probe.version,
      why: `a server answers on the standard port ${standard.port}`,
    };
  }

  const reasons = [
    ...(recorded ? [`the one started earlier (pid ${recorded.pid}) has exited`] : []),
    ...(standard
      ? [`standard port ${standard.port}: ${whyNot(standard.probe)}`]
      : ['standard ports not considered']),
  ];
  const port =
    facts.requestedPort !== undefined
      ? facts.requestedPort === 0
        ? 'free'
        : facts.requestedPort
      : standard?.probe.state === 'closed'
        ? standard.port
        : 'free';
  return { action: 'start', port, why: reasons.join('; ') };
};

/** How to get a nats-server binary. */
export type NatsBinaryPlan =
  | { readonly action: 'use'; readonly path: string }
  | { readonly action: 'apt-install' }
  | { readonly action: 'instruct'; readonly message: string };

export const NATS_INSTALL_HELP =
  'nats-server is not installed. Install it with `sudo apt-get install -y nats-server` (Debian/Ubuntu), ' +
  '`brew install nats-server` (macOS), or a release from https://github.com/nats-io/nats-server/releases; ' +
  'or point NATS_URL at a nats-server started with JetStream (-js).';

export const planNatsBinary = (facts: {
  readonly found?: string;
  readonly isRoot: boolean;
  readonly hasAptGet: boolean;
  readonly mayInstall: boolean;
}): NatsBinaryPlan => {
  if (facts.found) return { action: 'use', path: facts.found };
  if (facts.mayInstall && facts.isRoot && facts.hasAptGet) return { action: 'apt-install' };
  return { action: 'instruct', message: NATS_INSTALL_HELP };
};

export interface ServerVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/** Reads `nats-server: v2.9.10`, `v2.10.4` or `2.11.0-RC.1`. */
export const parseVersion = (text: string): ServerVersion | undefined => {
  const match = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
};

/**
 * JetStream's `sync_interval: always` (fsync after every write, see docs/adr/0005) exists from
 * nats-server 2.10.
 */
export const supportsSyncAlways = (version: ServerVersion): boolean =>
  version.major > 2 || (version.major === 2 && version.minor >= 10);
