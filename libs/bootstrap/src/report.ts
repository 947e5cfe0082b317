import type { EnsureServersResult, ServerStatus, StopResult } from './ensure-servers';
import { redactUrl } from './urls';

const PREFIX = '[bootstrap]';

/** The lines `ensure` prints: what each server is, where, and why that one. */
export const formatEnsureReport = (result: EnsureServersResult): string[] => {
  const lines: string[] = [];
  for (const report of [result.postgres, result.nats]) {
    lines.push(`${PREFIX} ${`${report.server}:`.padEnd(9)} ${report.what}`);
    lines.push(`${PREFIX} ${''.padEnd(9)} ${redactUrl(report.url)} (${report.version})`);
    if (report.source === 'started' || report.source === 'recorded') {
      lines.push(`${PREFIX} ${''.padEnd(9)} because ${report.why}`);
    }
  }
  for (const note of result.notes) lines.push(`${PREFIX} ${'note:'.padEnd(9)} ${note}`);
  lines.push(`${PREFIX} ${'wrote:'.padEnd(9)} ${result.serversFile}`);
  return lines;
};

export const formatStopReport = (result: StopResult): string[] => {
  if (result.stopped.length === 0 && result.notRunning.length === 0) {
    return [`${PREFIX} nothing to stop: the bootstrap has not started any server`];
  }
  return [
    ...result.stopped.map((what) => `${PREFIX} stopped ${what}`),
    ...result.notRunning.map((what) => `${PREFIX} ${what} was no longer running`),
  ];
};

export const formatStatus = (statuses: readonly ServerStatus[]): string[] =>
  statuses.map((status) => {
    const where = status.url ? redactUrl(status.url) : 'no URL recorded (run `ensure`)';
    const health = !status.probe
      ? ''
      : status.probe.state === 'usable'
        ? ` answers (${status.probe.version})`
        : status.probe.state === 'closed'
          ? ' does not answer: nothing listens there'
          : ` does not answer: ${status.probe.reason}`;
    const started = status.startedByBootstrap
      ? `; started by the bootstrap, pid ${status.startedByBootstrap.pid} ${status.startedByBootstrap.running ? 'running' : 'gone'}`
      : '';
    return `${PREFIX} ${`${status.server}:`.padEnd(9)} ${where}${health}${started}`;
  });
