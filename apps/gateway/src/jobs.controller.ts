import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import {
  ErrorCodes,
  GantryError,
  NO_EXPLANATION_RETAINED,
  streamIdOf,
  type JobExplanation,
  type StartEstimatesReply,
} from '@gantry/contracts';
import { isTerminal } from '@gantry/domain';
import { readStartEstimate } from '@gantry/projections';
import { keyActor } from './auth';
import { Authenticator } from './authenticator';
import { CommandSender, originOfKey } from './commands';
import { decodeCursor, encodeCursor } from './cursor';
import { JobsReadModel } from './jobs.read-model';
import {
  CancelJobBodySchema,
  IdempotencyKeyHeaderSchema,
  JobIdSchema,
  ListJobsQuerySchema,
  RetryStepsBodySchema,
  SubmitJobBodySchema,
  SubmitJobQuerySchema,
  type DryRunView,
  type JobStepView,
  type JobView,
} from './schemas';
import { GATEWAY_DEPENDENCIES, type GatewayDependencies } from './tokens';
import { parseInput } from './validate';
import { untilVisible } from './read-your-writes';

interface JobAccepted {
  readonly id: string;
  readonly state: JobView['state'];
}

interface JobReply {
  readonly jobId: string;
  readonly state: JobView['state'];
}

const notFound = (): GantryError => new GantryError(ErrorCodes.NOT_FOUND, 'no such job');

/** A path id that cannot be a job id is as missing as an unknown one. */
const jobIdOf = (raw: string): string => {
  if (!JobIdSchema.safeParse(raw).success) throw notFound();
  return raw;
};

/**
 * A tenant's jobs. Writes go to the controller as commands with the caller's tenant in their
 * metadata (the controller answers NOT_FOUND for another tenant's stream, ADR 0009); reads come
 * from job_summary, and the events route from the job stream, both scoped to the caller.
 */
@Controller('v1/jobs')
export class JobsController {
  constructor(
    @Inject(Authenticator) private readonly auth: Authenticator,
    @Inject(CommandSender) private readonly commands: CommandSender,
    @Inject(JobsReadModel) private readonly jobs: JobsReadModel,
    @Inject(GATEWAY_DEPENDENCIES) private readonly deps: GatewayDependencies,
  ) {}

  @Post()
  @HttpCode(201)
  async submit(
    @Headers() headers: Record<string, string | undefined>,
    @Query() query: unknown,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<{ id: string; state: JobView['state'] } | DryRunView> {
    const key = await this.auth.tenant(headers['authorization']);
    const { dryRun } = parseInput(SubmitJobQuerySchema, query, 'the query');
    const { 'idempotency-key': idempotencyKey } = parseInput(
      IdempotencyKeyHeaderSchema,
      headers,
      'the Idempotency-Key header',
    );
    const spec = parseInput(SubmitJobBodySchema, body, 'the job spec');
    if (dryRun) {
      // A7: the verdict a submission would get now; nothing is stored, so nothing is created.
      res.status(200);
      const origin = originOfKey(key, req);
      const [verdict, estimatedStartAt] = await Promise.all([
        this.commands.send<Omit<DryRunView, 'dryRun' | 'estimatedStartAt'>>(
          'admission',
          'dry-run',
          'SubmitJob',
          { spec, idempotencyKey: idempotencyKey ?? null },
          origin,
        ),
        this.estimatedStart(spec, origin),
      ]);
      return { dryRun: true, ...verdict, estimatedStartAt };
    }
    // Admission submits it to the controller and answers the quota verdict (QUEUED, or 422).
    const reply = await this.commands.send<Pick<JobReply, 'jobId' | 'state'>>(
      'admission',
      'submit',
      'SubmitJob',
      { spec, idempotencyKey: idempotencyKey ?? null },
      originOfKey(key, req),
    );
    await untilVisible(async () => (await this.jobs.get(key.tenant, reply.jobId)) !== null);
    return { id: reply.jobId, state: reply.state };
  }

  @Get()
  async list(
    @Headers('authorization') authorization: string | undefined,
    @Query() query: unknown,
  ): Promise<{ items: readonly JobView[]; nextCursor: string | null }> {
    const key = await this.auth.tenant(authorization);
    const { state, limit, cursor } = parseInput(ListJobsQuerySchema, query, 'the query');
    const page = await this.jobs.list(key.tenant, {
      limit,
      ...(state === undefined ? {} : { state }),
      ...(cursor === undefined ? {} : { after: decodeCursor(cursor) }),
    });
    return { items: page.items, nextCursor: page.next === null ? null : encodeCursor(page.next) };
  }

  /** The job; a QUEUED one also shows when the scheduler expects it to start (C7). */
  /**
   * When a job of this shape would start in its pool if submitted now (C7), from the scheduler's
   * leader; null when it would not start within what the estimate looks at, or no leader answers
   * (an estimate is advice: the verdict does not wait for it).
   */
  private async estimatedStart(
    spec: {
      pool: string;
      nodes: number;
      resources: { cpu: number; memoryMiB: number; gpu: number };
    },
    origin: ReturnType<typeof originOfKey>,
  ): Promise<string | null> {
    try {
      const reply = await this.commands.ask<StartEstimatesReply>(
        'scheduler',
        'estimate',
        'EstimateStart',
        { resources: spec.resources, nodes: spec.nodes },
        origin,
      );
      return reply.pools.find((p) => p.pool === spec.pool)?.estimatedStartAt ?? null;
    } catch {
      return null;
    }
  }

  @Get(':id')
  async get(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
  ): Promise<JobView & { estimatedStartAt: string | null; steps: JobStepView[] }> {
    const key = await this.auth.tenant(authorization);
    const job = await this.jobs.get(key.tenant, jobIdOf(id));
    if (job === null) throw notFound();
    const [estimate, steps] = await Promise.all([
      job.state === 'QUEUED' ? readStartEstimate(this.deps.pool, key.tenant, job.id) : null,
      job.run > 0 ? this.jobs.steps(key.tenant, job.id) : [],
    ]);
    return { ...job, estimatedStartAt: estimate === null ? null : estimate.toISOString(), steps };
  }

  /**
   * C5: why the scheduler placed the job where it did (each candidate's score by term), or why it
   * still waits (each node's filter, its place in the queue, what it waits for). The scheduler's
   * leader holds the reasons; a job it holds none for (ended, or placed long ago) says so.
   */
  @Get(':id/explain')
  async explain(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Req() req: FastifyRequest,
  ): Promise<JobExplanation & { state: JobView['state'] }> {
    const key = await this.auth.tenant(authorization);
    const jobId = jobIdOf(id);
    const job = await this.jobs.get(key.tenant, jobId);
    if (job === null) throw notFound();
    if (isTerminal(job.state)) {
      return {
        jobId,
        state: job.state,
        retained: false,
        why: `${NO_EXPLANATION_RETAINED}: the job has ended (${job.state})`,
      };
    }
    if (job.run > 0) {
      // A job with steps (or one that fanned out) is never placed: its steps' jobs are.
      const running = (await this.jobs.steps(key.tenant, jobId)).filter(
        (s) => s.state === 'SUBMITTED' && s.jobId !== null,
      );
      return {
        jobId,
        state: job.state,
        retained: false,
        why:
          `${NO_EXPLANATION_RETAINED}: a job with steps is not placed itself; it waits for its steps` +
          (running.length === 0
            ? ''
            : `, running as ${running.map((s) => `${s.name} (job ${s.jobId})`).join(', ')}: explain those`),
      };
    }
    const answer = await this.commands.ask<JobExplanation>(
      'scheduler',
      'explain',
      'ExplainJob',
      { jobId },
      originOfKey(key, req),
    );
    return { ...answer, state: job.state };
  }

  @Post(':id/cancel')
  @HttpCode(200)
  async cancel(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
  ): Promise<JobAccepted> {
    const { reason } = parseInput(CancelJobBodySchema, body ?? {}, 'the cancel request');
    return this.onJob(authorization, id, req, 'cancel', 'CancelJob', (actor) => ({
      reason: reason ?? '',
      requestedBy: actor,
    }));
  }

  /** D6: a manual gate before placement. A job that already holds nodes is cancelled instead. */
  @Post(':id/hold')
  @HttpCode(200)
  async hold(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
  ): Promise<JobAccepted> {
    const { reason } = parseInput(CancelJobBodySchema, body ?? {}, 'the hold request');
    return this.onJob(authorization, id, req, 'hold', 'HoldJob', (actor) => ({
      reason: reason ?? '',
      heldBy: actor,
    }));
  }

  @Post(':id/release')
  @HttpCode(200)
  async release(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Req() req: FastifyRequest,
  ): Promise<JobAccepted> {
    return this.onJob(authorization, id, req, 'release', 'ReleaseJob', (actor) => ({
      releasedBy: actor,
    }));
  }

  /**
   * D5: runs a job's failed steps again (or the ones named, with their dependents), in a new
   * run; the steps that succeeded keep their committed outputs, which the rerun steps get again.
   */
  @Post(':id/retry')
  @HttpCode(200)
  async retry(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
  ): Promise<JobAccepted> {
    const { steps } = parseInput(RetryStepsBodySchema, body ?? {}, 'the retry request');
    return this.onJob(authorization, id, req, 'retry-steps', 'RetrySteps', (actor) => ({
      ...(steps === undefined ? {} : { steps }),
      retriedBy: actor,
    }));
  }

  /**
   * A command about one of the caller's jobs: the controller answers NOT_FOUND for another
   * tenant's job exactly as for a missing one (invariant 7), since the tenant travels in metadata.
   */
  private async onJob(
    authorization: string | undefined,
    id: string,
    req: FastifyRequest,
    verb: string,
    type: string,
    data: (actor: string) => Record<string, unknown>,
  ): Promise<JobAccepted> {
    const key = await this.auth.tenant(authorization);
    const jobId = jobIdOf(id);
    const reply = await this.commands.send<JobReply & { version: number }>(
      'controller',
      verb,
      type,
      { jobId, ...data(keyActor(key.keyId)) },
      originOfKey(key, req),
    );
    // Read your writes: a GET right after a cancel or a retry must not show the job as before.
    await untilVisible(
      async () => ((await this.jobs.version(key.tenant, jobId)) ?? 0) >= reply.version,
    );
    return { id: reply.jobId, state: reply.state };
  }

  @Get(':id/events')
  async events(
    @Headers('authorization') authorization: string | undefined,
    @Param('id') id: string,
  ): Promise<{ jobId: string; events: unknown[] }> {
    const key = await this.auth.tenant(authorization);
    const jobId = jobIdOf(id);
    const events = await this.deps.store.readStream(streamIdOf('job', jobId));
    // A stream another tenant wrote is answered exactly like a missing one (invariant 7).
    if (events.length === 0 || events.some((e) => e.metadata.tenant !== key.tenant)) {
      throw notFound();
    }
    return {
      jobId,
      events: events.map((e) => ({
        id: e.id,
        type: e.type,
        schemaVersion: e.schemaVersion,
        version: e.metadata.streamVersion,
        occurredAt: e.metadata.occurredAt,
        data: e.data,
      })),
    };
  }
}
