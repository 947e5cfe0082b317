import { ErrorCodes, GantryError, type JobSpec } from '@gantry/contracts';
import { isTerminal, type JobStateName } from '@gantry/domain';

/**
 * What admission does next with a job, by the state the controller says it is in. One table,
 * walked again after every step (and after every lost race), so a crash or a concurrent
 * admission of the same job (a repeated Idempotency-Key, the recovery sweep) at any point
 * resumes where the job is, and never decides twice:
 *
 *   PENDING  -> reserve on the tenant stream, then admit (or reject when over quota)
 *   ADMITTED -> queue (a job is only admitted once its reservation is stored)
 *   REJECTED -> answer the stored refusal again
 *   ended    -> release whatever it might hold, answer its state
 *   beyond   -> answer its state
 */
export type AdmissionStep = 'reserve-and-admit' | 'queue' | 'refused' | 'ended' | 'answer';

export const nextAdmissionStep = (state: JobStateName): AdmissionStep => {
  switch (state) {
    case 'PENDING':
      return 'reserve-and-admit';
    case 'ADMITTED':
      return 'queue';
    case 'REJECTED':
      return 'refused';
    case 'NONE':
      // The controller answered for a job it then could not find: a bug, never a silent success.
      throw new GantryError(ErrorCodes.INTERNAL, 'the submitted job is missing from the store', {
        retryable: true,
      });
    default:
      return isTerminal(state) ? 'ended' : 'answer';
  }
};

/** The cores a job holds while it counts: cpu per node times its nodes (B2). */
/** What a job holds against its tenant's quotas while it is reserved: per-node resources x nodes. */
export const reservationOf = (
  spec: Pick<JobSpec, 'nodes' | 'resources'>,
): { cores: number; memoryMiB: number; gpus: number } => ({
  cores: spec.resources.cpu * spec.nodes,
  memoryMiB: spec.resources.memoryMiB * spec.nodes,
  gpus: spec.resources.gpu * spec.nodes,
});

/** What a REJECTED job answers, every time it is asked: the refusal it got, with its id. */
export const refusalOfRejectedJob = (
  jobId: string,
  rejection: { readonly code: string; readonly reason: string; readonly details: object },
): GantryError => {
  const code = (Object.values(ErrorCodes) as string[]).includes(rejection.code)
    ? (rejection.code as GantryError['code'])
    : ErrorCodes.QUOTA_EXCEEDED;
  return new GantryError(code, rejection.reason, {
    details: { ...(rejection.details as Record<string, unknown>), jobId },
  });
};
