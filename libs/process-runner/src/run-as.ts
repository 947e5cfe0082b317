import { readFileSync } from 'node:fs';
import { ProcessRunnerError } from './errors';

export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

/** `auto`: as root, run jobs as this user; otherwise run as ourselves (we cannot switch user anyway). */
export const FALLBACK_JOB_USER = 'nobody';

/** The uid/gid of a user from /etc/passwd text. Pure. */
export const lookupUser = (passwd: string, name: string): RunAs | undefined => {
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (
      user === name &&
      uid !== undefined &&
      gid !== undefined &&
      /^\d+$/.test(uid) &&
      /^\d+$/.test(gid)
    ) {
      return { uid: Number(uid), gid: Number(gid) };
    }
  }
  return undefined;
};

/**
 * Who the job runs as. `undefined` means "as the agent itself": no uid switch, no chown. An explicit
 * uid 0 is refused: a tenant's job never runs as root (I4).
 */
export const resolveRunAs = (
  requested: RunAs | 'auto' | undefined,
  currentUid: number,
  readPasswd: () => string = () => readFileSync('/etc/passwd', 'utf8'),
): RunAs | undefined => {
  if (requested === undefined) return undefined;
  if (requested === 'auto') {
    if (currentUid !== 0) return undefined;
    const user = lookupUser(readPasswd(), FALLBACK_JOB_USER);
    if (user === undefined || user.uid === 0) {
      throw new ProcessRunnerError(
        'unknown-user',
        `no unprivileged user ${FALLBACK_JOB_USER} to run jobs as`,
      );
    }
    return user;
  }
  if (
    !Number.isSafeInteger(requested.uid) ||
    !Number.isSafeInteger(requested.gid) ||
    requested.uid < 0 ||
    requested.gid < 0
  ) {
    throw new ProcessRunnerError(
      'invalid-options',
      `runAs must hold non-negative integer uid and gid`,
    );
  }
  if (requested.uid === 0 || requested.gid === 0) {
    throw new ProcessRunnerError('invalid-options', 'jobs never run as root (uid or gid 0)');
  }
  return requested.uid === currentUid ? undefined : requested;
};
