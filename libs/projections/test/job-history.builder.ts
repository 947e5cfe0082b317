import { randomUUID } from 'node:crypto';
import {
  JobSubmittedData,
  streamIdOf,
  type EventEnvelope,
  type JobEvent,
  type JobSpecInput,
} from '@gantry/contracts';

/**
 * Fluent fixtures for one job's stream (CONVENTIONS.md, "Builders for fixtures"):
 * `aJob().forTenant('acme').submitted({ nodes: 2 }).admitted()`. It yields the domain events to
 * append to the store, or the envelopes the store would hand back, with versions 1..n and
 * occurred-at times on a fixed clock so that expectations are exact.
 */
export const BASE_TIME = Date.parse('2026-01-01T00:00:00.000Z');

const defaultSpec: JobSpecInput = { command: ['/bin/true'], resources: { cpu: 1, memoryMiB: 512 } };

export class JobHistoryBuilder {
  private tenant = 'acme';
  private readonly events: JobEvent[] = [];

  constructor(readonly jobId: string) {}

  forTenant(tenant: string): this {
    this.tenant = tenant;
    return this;
  }

  submitted(spec: Partial<JobSpecInput> = {}, idempotencyKey: string | null = null): this {
    const data = JobSubmittedData.parse({
      jobId: this.jobId,
      spec: { ...defaultSpec, ...spec },
      idempotencyKey,
    });
    this.events.push({ type: 'JobSubmitted', data });
    return this;
  }

  admitted(): this {
    this.events.push({
      type: 'JobAdmitted',
      data: { jobId: this.jobId, admittedAt: this.timeOf(this.events.length + 1) },
    });
    return this;
  }

  rejected(code = 'QUOTA_EXCEEDED', reason = 'cpu quota exhausted'): this {
    this.events.push({
      type: 'JobRejected',
      data: { jobId: this.jobId, code, reason, details: {} },
    });
    return this;
  }

  cancelled(reason = 'no longer needed', cancelledBy = 'key-1'): this {
    this.events.push({ type: 'JobCancelled', data: { jobId: this.jobId, reason, cancelledBy } });
    return this;
  }

  get streamId(): string {
    return streamIdOf('job', this.jobId);
  }

  get tenantId(): string {
    return this.tenant;
  }

  domainEvents(): JobEvent[] {
    return [...this.events];
  }

  envelopes(): EventEnvelope[] {
    return this.events.map((event, index) => ({
      id: randomUUID(),
      type: event.type,
      schemaVersion: 1,
      data: event.data,
      metadata: {
        tenant: this.tenant,
        occurredAt: this.timeOf(index + 1),
        causationId: null,
        correlationId: `corr-${this.jobId}`,
        streamId: this.streamId,
        streamVersion: index + 1,
      },
    }));
  }

  /** Each event of a job happens one second after the previous one. */
  private timeOf(version: number): string {
    return new Date(BASE_TIME + version * 1_000).toISOString();
  }
}

export const aJob = (jobId: string = `j-${randomUUID().slice(0, 8)}`): JobHistoryBuilder =>
  new JobHistoryBuilder(jobId);
