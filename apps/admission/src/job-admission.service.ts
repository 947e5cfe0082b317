import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type NatsConnection } from '@nats-io/transport-node';
import { type Pool } from 'pg';
import {
  commandRegistry,
  ErrorCodes,
  GantryError,
  isGantryError,
  streamIdOf,
  SYSTEM_TENANT,
  type CommandEnvelope,
  type EventEnvelope,
  type JobCommand,
  type JobEvent,
  type JobSpec,
  type SubjectCatalogue,
  type TenantEvent,
} from '@gantry/contracts';
import {
  decideTenant,
  evolve,
  priceJob,
  runtimeSecondsOf,
  evolveTenant,
  hasSteps,
  initialJobState,
  initialTenantState,
  type JobState,
  type JobPrice,
  type JobStateName,
  type TenantDecision,
  type TenantState,
} from '@gantry/domain';
import {
  CommandProcessor,
  commandContextOf,
  type BatchItem,
  type CommandContext,
  type Decider,
  type PostgresEventStore,
} from '@gantry/event-store';
import { commandEnvelope, PeriodicTask, sendCommand } from '@gantry/messaging';
import { nextAdmissionStep, refusalOfRejectedJob, reservationOf } from './job-admission';
import { PriceBookService } from './price-book.service';

/** The refusals a submission can get from its tenant's stream: over a quota or budget, or paused. */
export const isRefusal = (err: unknown): err is GantryError =>
  isGantryError(err) &&
  (err.code === ErrorCodes.QUOTA_EXCEEDED || err.code === ErrorCodes.TENANT_PAUSED);

export interface JobAdmissionDependencies {
  readonly store: PostgresEventStore;
  readonly nc: NatsConnection;
  readonly subjects: SubjectCatalogue;
  readonly clock: () => Date;
  readonly random: () => number;
  /** Where the recovery sweep finds unfinished admissions (job_summary); no sweep without it. */
  readonly pool?: Pool;
  /** How often the sweep runs (default 30 s); 0 turns the timer off (the start-up sweep stays). */
  readonly recoveryIntervalMs?: number;
  /** A job this long in PENDING or ADMITTED is presumed abandoned by a crashed admission (5 s). */
  readonly recoveryAgeMs?: number;
  readonly commandTimeoutMs?: number;
  /** How often the budget watch runs (default 2 s); 0 turns it off. Needs `pool`. */
  readonly budgetWatchIntervalMs?: number;
  /** How often usage is reconciled with the projection (default 10 s); 0 turns it off. */
  readonly reconcileIntervalMs?: number;
  /** Drain `nc` on shutdown: admission opened it. */
  readonly ownsConnection?: boolean;
}

export const JOB_ADMISSION_DEPENDENCIES = Symbol('JOB_ADMISSION_DEPENDENCIES');

export interface DryRunReply {
  readonly admit: boolean;
  /** What the job would hold against the quotas. */
  readonly reservation: {
    readonly cores: number;
    readonly memoryMiB: number;
    readonly gpus: number;
  };
  /** Its price at the pool's prices now (B3): rate, assumed runtime and projected cost. */
  readonly cost: JobPrice & { readonly pool: string };
  readonly refusal: {
    readonly code: string;
    readonly reason: string;
    readonly details: Record<string, unknown>;
  } | null;
}

/** What a byte charge answers: whether it changed anything (a repeated file charge does not). */
export interface BytesReply {
  readonly charged: boolean;
}

export type SubmitJobData = Extract<JobCommand, { type: 'SubmitJob' }>['data'];

export interface SubmitReply {
  readonly jobId: string;
  readonly state: JobStateName;
}

interface ControllerReply {
  readonly jobId: string;
  readonly state: JobStateName;
  readonly version: number;
}

/** Who a step acts for: copied onto every command admission sends and every event it appends. */
export interface Origin {
  readonly tenant: string;
  readonly causationId: string | null;
  readonly correlationId: string;
  readonly actor?: string;
  readonly traceparent?: string;
}

/**
 * The tenant stream gains two events per job, so its fold is loaded from a snapshot plus the
 * events since (at most `every`), while its state holds only the jobs that count now.
 */
// schemaVersion 3: the state holds prices, budget, spend and pause (2: no money; 1: cores only).
const TENANT_SNAPSHOT = { every: 64, schemaVersion: 3 } as const;
/** Enough for a burst of one tenant's submissions to get through on other replicas' heels. */
const RESERVE_MAX_ATTEMPTS = 30;
const MAX_STEPS = 6;
/** Decisions per append on one tenant's stream. */
const MAX_TENANT_BATCH = 256;

interface TenantBatch {
  readonly waiting: {
    readonly item: BatchItem<TenantDecision>;
    readonly resolve: (value: unknown) => void;
    readonly reject: (reason: unknown) => void;
  }[];
  draining: boolean;
}

/**
 * The submit path (B2): the controller makes the job PENDING, the tenant's stream decides whether
 * it fits (optimistic concurrency: of racing admissions, each decision saw every earlier one),
 * and the controller admits and queues it, or rejects it with the numbers. A reservation is
 * released once, when the job's terminal fact reaches the capacity consumer.
 */
@Injectable()
export class JobAdmissionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly processor: CommandProcessor;
  /** Per tenant, the decisions waiting for the stream (see onTenant). */
  private readonly tenantBatches = new Map<string, TenantBatch>();
  private readonly tenantDecider = (
    id: string,
  ): Decider<TenantState, TenantDecision, TenantEvent> => ({
    initialState: () => initialTenantState(id),
    evolve: evolveTenant,
    decide: decideTenant,
    snapshot: TENANT_SNAPSHOT,
  });
  private readonly sweeps = new PeriodicTask(() => this.recoverStalled());

  constructor(
    @Inject(JOB_ADMISSION_DEPENDENCIES) private readonly deps: JobAdmissionDependencies,
    @Inject(PriceBookService) private readonly prices: PriceBookService,
  ) {
    this.processor = new CommandProcessor(deps.store, {
      clock: deps.clock,
      random: deps.random,
      maxAttempts: RESERVE_MAX_ATTEMPTS,
      // A tenant's stream is decided on at every submission and every job's end.
      // One replica is usually a tenant's only writer: decide on the cache, let the append verify.
      stateCache: { maxStreams: 10_000, decideOnCachedState: true },
    });
  }

  onApplicationBootstrap(): void {
    if (!this.deps.pool) return;
    void this.sweeps.runOnce();
    this.sweeps.start(this.deps.recoveryIntervalMs ?? 30_000);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.sweeps.stop();
    if (this.deps.ownsConnection) await this.deps.nc.drain();
  }

  /**
   * `admission.dry-run` (A7): the verdict a SubmitJob would get now, deciding the tenant's quotas
   * exactly as a submission does, and storing nothing. `admit` false carries the refusal's numbers.
   */
  async dryRun(envelope: CommandEnvelope): Promise<DryRunReply> {
    const data = this.submitData(envelope);
    const tenant = envelope.metadata.tenant;
    const held = reservationOf(data.spec);
    const price = await this.priceOf(data.spec);
    const cost = { pool: data.spec.pool, ...price };
    try {
      await this.processor.decideOnly(
        this.tenantDecider(tenant),
        streamIdOf('tenant', tenant),
        {
          command: {
            type: 'ReserveJobCapacity',
            data: {
              id: tenant,
              jobId: `dry-run-${randomUUID()}`,
              ...this.heldData(data.spec, held, price),
            },
          },
        },
        commandContextOf(envelope),
      );
      return { admit: true, reservation: held, cost, refusal: null };
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const { jobId: _jobId, ...details } = err.details;
      return {
        admit: false,
        reservation: held,
        cost,
        refusal: { code: err.code, reason: err.message, details },
      };
    }
  }

  /** The tenant stream's state and version now, folded incrementally (the reconciler's truth). */
  tenantState(tenant: string): Promise<{ readonly state: TenantState; readonly version: number }> {
    return this.processor.stateOf(this.tenantDecider(tenant), streamIdOf('tenant', tenant));
  }

  private priceOf(spec: JobSpec): Promise<JobPrice> {
    return this.prices.pricesOf(spec.pool).then((prices) => priceJob(spec, prices));
  }

  private heldData(spec: JobSpec, held: ReturnType<typeof reservationOf>, price: JobPrice) {
    return {
      ...held,
      pool: spec.pool,
      ratePerHour: price.ratePerHour,
      projectedCost: price.projectedCost,
    };
  }

  /**
   * B1: a charge (or release) of bytes on the tenant's own stream, sent by staging or the
   * gateway for the tenant in the envelope: a service can charge a tenant only for itself.
   */
  async chargeBytes(
    type: 'ChargeStorage' | 'ReleaseStorage' | 'ChargeEgress',
    envelope: CommandEnvelope,
  ): Promise<BytesReply> {
    if (envelope.type !== type)
      throw new GantryError(
        ErrorCodes.VALIDATION_FAILED,
        `this subject takes ${type} commands, not ${envelope.type}`,
        { details: { expected: type, type: envelope.type } },
      );
    const data = commandRegistry.validateData(type, envelope.data) as { id: string };
    if (data.id !== envelope.metadata.tenant)
      throw new GantryError(ErrorCodes.VALIDATION_FAILED, 'bytes are charged to their own tenant', {
        details: { tenant: envelope.metadata.tenant, id: data.id },
      });
    const outcome = (await this.onTenant(commandContextOf(envelope), {
      command: { type, data } as TenantDecision['command'],
    } as TenantDecision)) as { appended: readonly unknown[] };
    return { charged: outcome.appended.length > 0 };
  }

  /** `admission.submit`: a SubmitJob from a tenant, answered with the job and its verdict. */
  async submit(envelope: CommandEnvelope): Promise<SubmitReply> {
    const data = this.submitData(envelope);
    if (data.parent !== undefined)
      throw new GantryError(
        ErrorCodes.VALIDATION_FAILED,
        'only admission submits a step of a job, from the job itself',
        { details: { parent: data.parent } },
      );
    return this.submitJob(commandContextOf(envelope), data);
  }

  /** The submit path for a job admission itself submits too: a step of a job with steps (D5). */
  async submitJob(origin: Origin, data: SubmitJobData): Promise<SubmitReply> {
    const submitted = await this.controller('submit', 'SubmitJob', data, origin);
    return this.advance(origin, submitted.jobId, submitted.state, data.spec);
  }

  private submitData(envelope: CommandEnvelope): SubmitJobData {
    if (envelope.type !== 'SubmitJob')
      throw new GantryError(
        ErrorCodes.VALIDATION_FAILED,
        `this subject takes SubmitJob commands, not ${envelope.type}`,
        { details: { expected: 'SubmitJob', type: envelope.type } },
      );
    if (envelope.metadata.tenant === SYSTEM_TENANT)
      throw new GantryError(ErrorCodes.VALIDATION_FAILED, 'a job is submitted by a tenant', {
        details: { tenant: envelope.metadata.tenant },
      });
    return commandRegistry.validateData('SubmitJob', envelope.data) as SubmitJobData;
  }

  /**
   * A job's terminal fact: give back what it held. Idempotent, so redelivery is harmless.
   * Answers the job's history, read to bill it, for what else its end sets going (its parent's
   * next steps).
   */
  async release(event: EventEnvelope): Promise<readonly EventEnvelope[]> {
    const jobId = String(event.data['jobId']);
    return this.releaseFor(
      {
        tenant: event.metadata.tenant,
        causationId: event.id,
        correlationId: event.metadata.correlationId,
        actor: 'admission',
        ...(event.metadata.traceparent === undefined
          ? {}
          : { traceparent: event.metadata.traceparent }),
      },
      jobId,
    );
  }

  /**
   * Finishes admissions a crash left halfway (a job in PENDING or ADMITTED for longer than
   * `recoveryAgeMs`). Candidates come from job_summary, which is indexed by state and may lag;
   * each is then re-read from the store, which alone decides, so a stale row costs one read.
   */
  async recoverStalled(): Promise<number> {
    const pool = this.deps.pool;
    if (!pool) return 0;
    const before = new Date(this.deps.clock().getTime() - (this.deps.recoveryAgeMs ?? 5_000));
    const { rows } = await pool.query<{ tenant: string; job_id: string }>(
      `SELECT tenant, job_id FROM job_summary
        WHERE state IN ('PENDING', 'ADMITTED') AND submitted_at < $1
        ORDER BY submitted_at LIMIT 500`,
      [before],
    );
    let finished = 0;
    for (const row of rows) {
      const origin: Origin = {
        tenant: row.tenant,
        causationId: null,
        correlationId: `admission-recovery-${randomUUID()}`,
        actor: 'admission',
      };
      try {
        const job = await this.jobState(row.tenant, row.job_id);
        if (job.state === 'NONE') continue;
        await this.advance(origin, row.job_id, job.state, job.spec);
        finished += 1;
      } catch (err) {
        // A refusal is an outcome (the job is now REJECTED); anything else waits for the next sweep.
        if (isRefusal(err)) finished += 1;
      }
    }
    return finished;
  }

  /** Walks the job through admission from the state it is in (see job-admission.ts). */
  private async advance(
    origin: Origin,
    jobId: string,
    initial: JobStateName,
    spec: JobSpec,
  ): Promise<SubmitReply> {
    let state = initial;
    for (let step = 0; step < MAX_STEPS; step += 1) {
      try {
        switch (nextAdmissionStep(state)) {
          case 'reserve-and-admit':
            state = await this.reserveAndAdmit(origin, jobId, spec);
            continue;
          case 'queue':
            // A job with steps waits for them instead (D5); admitting it normally blocks it too.
            state = hasSteps(spec)
              ? (
                  await this.controller(
                    'block',
                    'BlockJob',
                    { jobId, waitingOn: spec.steps.map((s) => s.name) },
                    origin,
                  )
                ).state
              : (await this.controller('queue', 'QueueJob', { jobId }, origin)).state;
            continue;
          case 'refused': {
            // A racing admission may have reserved for this job before it was rejected.
            await this.releaseFor(origin, jobId);
            throw await this.storedRefusal(origin.tenant, jobId);
          }
          case 'ended':
            await this.releaseFor(origin, jobId);
            return { jobId, state };
          case 'answer':
            return { jobId, state };
        }
      } catch (err) {
        // Someone else moved the job on (a repeated key, the sweep): look again, from the store.
        if (!isGantryError(err) || err.code !== ErrorCodes.ILLEGAL_TRANSITION) throw err;
        state = (await this.jobState(origin.tenant, jobId)).state;
      }
    }
    throw new GantryError(ErrorCodes.INTERNAL, `job ${jobId} kept changing during its admission`, {
      retryable: true,
      details: { jobId, state },
    });
  }

  private async reserveAndAdmit(
    origin: Origin,
    jobId: string,
    spec: JobSpec,
  ): Promise<JobStateName> {
    // A job with steps holds nothing itself: each step is admitted, and reserves, as it starts.
    if (hasSteps(spec))
      return (await this.controller('admit', 'AdmitJob', { jobId, andQueue: true }, origin)).state;
    try {
      await this.reserve(
        origin,
        jobId,
        this.heldData(spec, reservationOf(spec), await this.priceOf(spec)),
      );
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const { jobId: _jobId, ...details } = err.details;
      await this.controller(
        'reject',
        'RejectJob',
        { jobId, code: err.code, reason: err.message, details },
        origin,
      );
      throw err;
    }
    // Nothing to wait for yet (dependencies come with steps): admitted and queued in one append.
    return (await this.controller('admit', 'AdmitJob', { jobId, andQueue: true }, origin)).state;
  }

  private reserve(
    origin: Origin,
    jobId: string,
    held: ReturnType<JobAdmissionService['heldData']>,
  ): Promise<unknown> {
    return this.onTenant(origin, {
      command: { type: 'ReserveJobCapacity', data: { id: origin.tenant, jobId, ...held } },
    });
  }

  /**
   * Gives back what the job held, billed for the time its attempts really ran (B3), read from its
   * history: the same history whoever releases and however often, so the cost is the same too.
   */
  private async releaseFor(origin: Origin, jobId: string): Promise<readonly EventEnvelope[]> {
    const history = (await this.deps.store.readStream(streamIdOf('job', jobId))).filter(
      (e) => e.metadata.tenant === origin.tenant,
    );
    const runtimeSeconds = runtimeSecondsOf(
      history.map((e) => ({ type: e.type, occurredAt: e.metadata.occurredAt })),
    );
    await this.onTenant(origin, {
      command: { type: 'ReleaseJobCapacity', data: { id: origin.tenant, jobId, runtimeSeconds } },
    });
    return history;
  }

  /**
   * Every decision on a tenant's stream goes through its batch: while one append is in flight the
   * next decisions gather, and go together in the next one. One commit for many submissions is
   * what lets a busy tenant's admissions keep up; each still gets its own verdict.
   */
  onTenant(origin: Origin, decision: TenantDecision): Promise<unknown> {
    const { tenant } = origin;
    const context: CommandContext = {
      tenant,
      causationId: origin.causationId ?? `admission-${randomUUID()}`,
      correlationId: origin.correlationId,
      ...(origin.actor === undefined ? {} : { actor: origin.actor }),
      ...(origin.traceparent === undefined ? {} : { traceparent: origin.traceparent }),
    };
    return new Promise((resolve, reject) => {
      let batch = this.tenantBatches.get(tenant);
      if (!batch) {
        batch = { waiting: [], draining: false };
        this.tenantBatches.set(tenant, batch);
      }
      batch.waiting.push({ item: { command: decision, context }, resolve, reject });
      if (!batch.draining) void this.drainTenant(tenant, batch);
    });
  }

  private async drainTenant(tenant: string, batch: TenantBatch): Promise<void> {
    batch.draining = true;
    while (batch.waiting.length > 0) {
      const taken = batch.waiting.splice(0, MAX_TENANT_BATCH);
      try {
        const outcomes = await this.processor.handleBatch(
          this.tenantDecider(tenant),
          streamIdOf('tenant', tenant),
          taken.map((w) => w.item),
        );
        outcomes.forEach((outcome, i) =>
          outcome.ok ? taken[i]!.resolve(outcome) : taken[i]!.reject(outcome.error),
        );
      } catch (err) {
        for (const waiter of taken) waiter.reject(err);
      }
    }
    batch.draining = false;
    this.tenantBatches.delete(tenant);
  }

  /** The job folded from its stream; another tenant's job is a missing one (invariant 7). */
  async jobState(tenant: string, jobId: string): Promise<JobState> {
    const { state } = await this.deps.store.aggregateStream<{ foreign: boolean; job: JobState }>(
      streamIdOf('job', jobId),
      {
        initial: () => ({ foreign: false, job: initialJobState({ tenant, jobId }) }),
        evolve: (acc, envelope) => ({
          foreign: acc.foreign || envelope.metadata.tenant !== tenant,
          job: evolve(acc.job, { type: envelope.type, data: envelope.data } as JobEvent),
        }),
      },
    );
    // Another tenant's job is a missing one (invariant 7).
    return state.foreign ? initialJobState({ tenant, jobId }) : state.job;
  }

  private async storedRefusal(tenant: string, jobId: string): Promise<GantryError> {
    const events = await this.deps.store.readStream(streamIdOf('job', jobId));
    const rejected = events.findLast(
      (e) => e.type === 'JobRejected' && e.metadata.tenant === tenant,
    );
    if (!rejected)
      return new GantryError(ErrorCodes.INTERNAL, `job ${jobId} is rejected without a reason`, {
        details: { jobId },
      });
    const data = rejected.data as { code: string; reason: string; details?: object };
    return refusalOfRejectedJob(jobId, { ...data, details: data.details ?? {} });
  }

  /** A command to the controller, as admission (the budget watch's holds, releases and cancels). */
  controller(
    verb: string,
    type: string,
    data: Readonly<Record<string, unknown>>,
    origin: Origin,
  ): Promise<ControllerReply> {
    const envelope = commandEnvelope(type, data, { ...origin, occurredAt: this.deps.clock() });
    return sendCommand<ControllerReply>(
      this.deps.nc,
      this.deps.subjects,
      'controller',
      verb,
      envelope,
      {
        timeoutMs: this.deps.commandTimeoutMs ?? 10_000,
      },
    );
  }
}
