import { streamIdOf, type JobEvent } from '@gantry/contracts';
import { evolve, initialJobState, type JobState } from '@gantry/domain';
import { type PostgresEventStore } from '@gantry/event-store';
import { PeriodicTask } from '@gantry/messaging';
import { type Pool } from 'pg';
import { findOrphanCandidates, isCommitted, withSweepLock } from './orphan-files.queries';
import { type StagedFiles } from './staged-files.service';

/**
 * Whether the lease an attempt's file was made under could still commit it (D4). Outputs commit
 * only with the success of their own lease and checkpoints only while it stands, so once that
 * lease is over (ended, or replaced by a newer epoch) a file it did not commit never will be. A
 * lease the job's history does not show yet is treated as one that may still commit.
 */
export const leaseMayStillCommit = (job: JobState, leaseEpoch: number): boolean => {
  if (job.state === 'NONE') return false;
  if (job.leaseEpoch < leaseEpoch) return true;
  return job.leaseEpoch === leaseEpoch && job.leaseActive;
};

export interface OrphanSweepOptions {
  readonly pool: Pool;
  readonly store: PostgresEventStore;
  readonly files: StagedFiles;
  readonly clock: () => Date;
  /** How long after its creation an uncommitted attempt file is left alone. */
  readonly graceMs: number;
  /** How often the sweep runs; 0: never on its own (tests call `sweep`). */
  readonly intervalMs: number;
  /** Files looked at per sweep, at most. */
  readonly batchSize?: number;
  readonly log?: (event: string, fields?: Readonly<Record<string, unknown>>) => void;
}

export interface SweepResult {
  /** False when another replica held the sweep's lock, and this one did nothing. */
  readonly ran: boolean;
  readonly deleted: readonly string[];
}

/**
 * Collects the files attempts stored that their jobs never committed (D4): a zombie's outputs, a
 * failed attempt's, checkpoints a fenced attempt stored but could not report. One replica at a
 * time (a Postgres advisory lock); a tenant's own uploads are never candidates.
 */
export class OrphanSweep {
  private readonly sweeps = new PeriodicTask(() => this.sweep());

  constructor(private readonly options: OrphanSweepOptions) {}

  start(): void {
    this.sweeps.start(this.options.intervalMs);
  }

  stop(): Promise<void> {
    return this.sweeps.stop();
  }

  async sweep(): Promise<SweepResult> {
    const log = this.options.log ?? (() => undefined);
    const deleted: string[] = [];
    const outcome = await withSweepLock(this.options.pool, 'staging-orphans', async () => {
      const before = new Date(this.options.clock().getTime() - this.options.graceMs);
      const candidates = await findOrphanCandidates(
        this.options.pool,
        before,
        this.options.batchSize ?? 500,
      );
      for (const file of candidates) {
        try {
          const { state: job } = await this.options.store.aggregateStream<JobState>(
            streamIdOf('job', file.jobId),
            {
              initial: () => initialJobState({ tenant: file.tenant, jobId: file.jobId }),
              evolve: (state, event) =>
                evolve(state, { type: event.type, data: event.data } as JobEvent),
            },
          );
          if (leaseMayStillCommit(job, file.leaseEpoch)) continue;
          // Asked again now the lease is seen over: a commit that landed since the candidates were
          // read came with the lease's end, so it is visible to this read.
          if (await isCommitted(this.options.pool, file.fileId)) continue;
          const reason = `an output or checkpoint of job ${file.jobId} under lease ${file.leaseEpoch}, which ended without committing it`;
          if (await this.options.files.deleteAttemptFile(file.fileId, reason)) {
            deleted.push(file.fileId);
            log('orphan_deleted', { fileId: file.fileId, tenant: file.tenant, jobId: file.jobId });
          }
        } catch (err) {
          // One file that cannot be deleted now (staging's store, admission) waits for the next sweep.
          log('orphan_delete_failed', { fileId: file.fileId, error: String(err) });
        }
      }
    });
    return { ran: outcome !== null, deleted };
  }
}
