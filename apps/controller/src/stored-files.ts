import { type NatsConnection } from '@nats-io/transport-node';
import {
  ErrorCodes,
  isGantryError,
  type JobCommand,
  type ResolveInputsReply,
  type SubjectCatalogue,
} from '@gantry/contracts';
import { type DecisionFacts, type StoredFile } from '@gantry/domain';
import { commandEnvelope, sendCommand } from '@gantry/messaging';

/**
 * What the artifact store holds under each ref, for one tenant: staging's own record of the
 * bytes it stored (it hashes them as they arrive), never the agent's word. A ref that is missing,
 * not uploaded or another tenant's is absent from the answer.
 */
export type StoredFilesLookup = (request: {
  readonly tenant: string;
  readonly jobId: string;
  readonly refs: readonly string[];
}) => Promise<ReadonlyMap<string, StoredFile>>;

/** The refs a worker-side report asks the job to accept as stored files, and whose job it is. */
const reported = (command: JobCommand): { jobId: string; refs: string[] } | undefined => {
  switch (command.type) {
    case 'ReportAttemptExit':
      return command.data.outputs.length === 0
        ? undefined
        : { jobId: command.data.jobId, refs: command.data.outputs.map((o) => o.ref) };
    case 'ReportCheckpoint':
      return { jobId: command.data.jobId, refs: [command.data.checkpoint.ref] };
    default:
      return undefined;
  }
};

/** The facts a command's decision needs from outside the job (D4: the stored digests). */
export const factsFor = async (
  command: JobCommand,
  tenant: string,
  lookup: StoredFilesLookup,
): Promise<DecisionFacts> => {
  const asked = reported(command);
  if (asked === undefined) return {};
  return { storedFiles: await lookup({ tenant, ...asked }) };
};

/**
 * The lookup over staging's `resolve-inputs`, which answers size and digest of READY files of the
 * envelope's tenant. It refuses the whole list naming the first ref it lacks; that ref is left out
 * and the rest asked again, so the answer says which refs are stored, not merely that one is not.
 * Unavailable or slow staging fails the lookup with its retryable error: the agent tries again.
 */
export const stagingStoredFiles =
  (nc: NatsConnection, subjects: SubjectCatalogue, timeoutMs = 10_000): StoredFilesLookup =>
  async ({ tenant, jobId, refs }) => {
    const stored = new Map<string, StoredFile>();
    let asking = [...new Set(refs)];
    while (asking.length > 0) {
      try {
        const reply = await sendCommand<ResolveInputsReply>(
          nc,
          subjects,
          'staging',
          'resolve-inputs',
          commandEnvelope(
            'ResolveInputs',
            { jobId, refs: asking },
            { tenant, correlationId: `job-${jobId}`, actor: 'controller' },
          ),
          { timeoutMs },
        );
        for (const file of reply.files)
          stored.set(file.ref, { size: file.size, sha256: file.sha256 });
        return stored;
      } catch (err) {
        const missing =
          isGantryError(err) && err.code === ErrorCodes.NOT_FOUND ? err.details['ref'] : undefined;
        if (typeof missing !== 'string' || !asking.includes(missing)) throw err;
        asking = asking.filter((ref) => ref !== missing);
      }
    }
    return stored;
  };
