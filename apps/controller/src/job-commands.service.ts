import { Inject, Injectable } from '@nestjs/common';
import { streamIdOf, type CommandEnvelope, type JobCommandType } from '@gantry/contracts';
import { afterRetry, retrySlot, type RetryRate } from '@gantry/domain';
import { CommandProcessor, commandContextOf } from '@gantry/event-store';
import { jobDecider, parseJobCommand, replyOf, type JobReply } from './job-commands';
import { submittedJobId } from './job-id';
import { factsFor, type StoredFilesLookup } from './stored-files';

export const NEW_JOB_ID = Symbol('NEW_JOB_ID');
export const STORED_FILES = Symbol('STORED_FILES');
export const RETRY_LIMITER = Symbol('RETRY_LIMITER');

/** The commands whose decision may schedule a retry: a failed attempt's. */
const MAY_RETRY: ReadonlySet<JobCommandType> = new Set([
  'ReportAttemptExit',
  'ReportNodeLost',
  'ExpireLease',
]);

/**
 * Each tenant's retry rate limit (D3) in this controller process: the earliest start the next
 * retry of a tenant may have, and the count of the ones it scheduled. Per replica, so with N
 * controllers a tenant may retry up to N times the rate; it spreads a storm, it is not a quota.
 */
export class RetryLimiter {
  private readonly tats = new Map<string, number>();

  constructor(
    private readonly clock: () => Date,
    private readonly rate: RetryRate,
  ) {}

  /** A floor for a retry decided now, when the tenant is over its rate; undefined when not. */
  floor(tenant: string): Date | undefined {
    const now = this.clock().getTime();
    const slot = retrySlot(this.tats.get(tenant), now, this.rate);
    return slot > now ? new Date(slot) : undefined;
  }

  scheduled(tenant: string): void {
    const now = this.clock().getTime();
    this.tats.set(tenant, afterRetry(this.tats.get(tenant), now, this.rate));
    // Forget tenants whose slots are long past: the map holds only recent retriers.
    if (this.tats.size > 10_000)
      for (const [key, tat] of this.tats) if (tat < now) this.tats.delete(key);
  }
}

/** The one path every job command takes: parse, pick the job's stream, decide and append. */
@Injectable()
export class JobCommandsService {
  constructor(
    @Inject(CommandProcessor) private readonly processor: CommandProcessor,
    @Inject(NEW_JOB_ID) private readonly newJobId: () => string,
    @Inject(STORED_FILES) private readonly storedFiles: StoredFilesLookup,
    @Inject(RETRY_LIMITER) private readonly retries: RetryLimiter,
  ) {}

  async execute(type: JobCommandType, envelope: CommandEnvelope): Promise<JobReply> {
    const command = parseJobCommand(type, envelope);
    const { tenant } = envelope.metadata;
    const jobId =
      command.type === 'SubmitJob'
        ? submittedJobId(tenant, command.data.idempotencyKey, this.newJobId)
        : command.data.jobId;
    // Gathered before deciding, so the decision stays pure; stored files never change, so a
    // decision retried after a version conflict may reuse them.
    const stored = await factsFor(command, tenant, this.storedFiles);
    const retryNotBefore = MAY_RETRY.has(command.type) ? this.retries.floor(tenant) : undefined;
    const facts = retryNotBefore === undefined ? stored : { ...stored, retryNotBefore };
    const { state, version, appended } = await this.processor.handle(
      jobDecider({ tenant, jobId }, facts),
      streamIdOf('job', jobId),
      command,
      commandContextOf(envelope),
    );
    if (appended.some((e) => e.type === 'JobRetryScheduled')) this.retries.scheduled(tenant);
    return replyOf(command, jobId, state, version);
  }
}
