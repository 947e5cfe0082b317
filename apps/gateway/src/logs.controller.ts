import { once } from 'node:events';
import { type ServerResponse } from 'node:http';
import {
  Controller,
  Get,
  Headers,
  Inject,
  Param,
  Query,
  Res,
  type OnModuleDestroy,
} from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { ErrorCodes, GantryError } from '@gantry/contracts';
import {
  TERMINAL_JOB_STATES,
  decodeLogCursor,
  deliverContiguous,
  followComplete,
  tailLines,
  type FollowedChunk,
  type FollowedJob,
  type LogCursor,
} from '@gantry/projections';
import { Authenticator } from './authenticator';
import { LogsReadModel, type LogRankFilter } from './logs.read-model';
import { JobIdSchema, JobLogsQuerySchema } from './schemas';
import { GATEWAY_DEPENDENCIES, type GatewayDependencies } from './tokens';
import { parseInput } from './validate';

/** The fallback when a wake-up is lost (core NATS is at most once): a new chunk waits this long at worst. */
export const LOG_POLL_MS = 250;
/** Comments keep proxies and clients from closing a quiet stream. */
export const LOG_HEARTBEAT_MS = 15_000;
/** A terminal job whose ranks never sent their eof (a lost node) ends its follow after this. */
export const LOG_END_GRACE_MS = 5_000;
/** Deliveries this large suggest more is waiting: read again before sleeping. */
const FULL_READ = 256;

const notFound = (): GantryError => new GantryError(ErrorCodes.NOT_FOUND, 'no such job');

const sseLog = ({ chunk, cursor }: { chunk: FollowedChunk; cursor: string }): string =>
  `id: ${cursor}\nevent: log\ndata: ${JSON.stringify({
    attempt: chunk.attempt,
    rank: chunk.rank,
    stream: chunk.stream,
    seq: chunk.seq,
    data: chunk.data,
    at: chunk.at,
    ...(chunk.eof ? { eof: true, exitCode: chunk.exitCode } : {}),
  })}\n\n`;

/**
 * `GET /v1/jobs/{id}/logs`: the tail of an attempt as text, or (`follow=true`) every chunk as
 * Server-Sent Events, first what is stored, then what the relay commits, until the job has ended.
 *
 * Order: by the time a chunk was written, across ranks (ties by attempt, rank, seq); within a
 * rank always by seq. Following delivers per (attempt, rank) only the gapless prefix of seqs, and
 * each event's id is the cursor "last seq per (attempt, rank)" as of that event, so a reconnect
 * with Last-Event-ID (or `?cursor=`) continues exactly after it: nothing missed, nothing twice.
 */
@Controller('v1/jobs')
export class LogsController implements OnModuleDestroy {
  private readonly followers = new Set<AbortController>();

  constructor(
    @Inject(Authenticator) private readonly auth: Authenticator,
    @Inject(LogsReadModel) private readonly logs: LogsReadModel,
    @Inject(GATEWAY_DEPENDENCIES) private readonly deps: GatewayDependencies,
  ) {}

  /** Open streams would hold the HTTP server's close forever: end them first. */
  onModuleDestroy(): void {
    for (const follower of this.followers) follower.abort();
  }

  @Get(':id/logs')
  async read(
    @Headers() headers: Record<string, string | undefined>,
    @Param('id') id: string,
    @Query() query: unknown,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const key = await this.auth.tenant(headers['authorization']);
    if (!JobIdSchema.safeParse(id).success) throw notFound();
    const q = parseInput(JobLogsQuerySchema, query, 'the query');
    // Another tenant's job reads exactly like a missing one (invariant 7).
    const job = await this.logs.job(key.tenant, id);
    if (job === null) throw notFound();
    const filter: LogRankFilter = {
      ...(q.attempt === undefined ? {} : { attempt: q.attempt }),
      ...(q.rank === undefined ? {} : { rank: q.rank }),
    };

    if (q.follow !== 'true') {
      const attempt = q.attempt ?? job.attempt;
      const chunks =
        attempt < 1
          ? []
          : await this.logs.tail(key.tenant, id, { ...filter, attempt, lines: q.tail });
      const text = tailLines(chunks, {
        lines: q.tail,
        prefixRanks: job.nodes > 1 && q.rank === undefined,
      });
      void reply
        .status(200)
        .header('content-type', 'text/plain; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(text);
      return;
    }

    // Validated before the stream opens, so a bad cursor is a 400 and not a broken stream.
    const cursor = decodeLogCursor(headers['last-event-id'] ?? q.cursor ?? '');
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Proxies (nginx) would otherwise buffer the stream and defeat the latency goal.
      'x-accel-buffering': 'no',
    });
    const follower = new AbortController();
    this.followers.add(follower);
    raw.on('close', () => follower.abort());
    try {
      await this.follow(raw, key.tenant, id, job, cursor, filter, follower.signal);
    } catch {
      // The client reconnects with its Last-Event-ID and loses nothing; the error is not its to see.
    } finally {
      this.followers.delete(follower);
      if (!raw.writableEnded) raw.end();
    }
  }

  private async follow(
    raw: ServerResponse,
    tenant: string,
    jobId: string,
    initial: FollowedJob,
    from: LogCursor,
    filter: LogRankFilter,
    signal: AbortSignal,
  ): Promise<void> {
    let job = initial;
    let cursor = from;
    let woken = false;
    let wake: (() => void) | undefined;
    let lastWrite = Date.now();
    let terminalSince: number | undefined;
    // Subscribed before the first read: a commit between the read and the sleep still wakes us.
    const subscription = this.deps.nc.subscribe(this.deps.subjects.logCommitted(tenant, jobId), {
      callback: () => {
        woken = true;
        wake?.();
      },
    });
    const write = async (text: string): Promise<void> => {
      lastWrite = Date.now();
      if (!raw.write(text)) await once(raw, 'drain', { signal });
    };
    try {
      await write('retry: 1000\n\n');
      while (!signal.aborted) {
        woken = false;
        const read = await this.logs.chunksAfter(tenant, jobId, job, cursor, filter);
        const delivery = deliverContiguous(cursor, read);
        if (delivery.chunks.length > 0) {
          cursor = delivery.cursor;
          await write(delivery.chunks.map(sseLog).join(''));
          if (delivery.chunks.length >= FULL_READ) continue;
        }
        job = (await this.logs.job(tenant, jobId)) ?? job;
        if (TERMINAL_JOB_STATES.has(job.state)) {
          const now = Date.now();
          terminalSince ??= now;
          const attempt = filter.attempt ?? job.attempt;
          const ends = attempt >= 1 ? await this.logs.ends(tenant, jobId, attempt) : [];
          if (
            followComplete(job, ends, cursor, filter) ||
            now - terminalSince >= LOG_END_GRACE_MS
          ) {
            await write(`event: end\ndata: ${JSON.stringify({ state: job.state })}\n\n`);
            return;
          }
        }
        if (Date.now() - lastWrite >= LOG_HEARTBEAT_MS) await write(': ping\n\n');
        if (!woken) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(timer);
              signal.removeEventListener('abort', done);
              wake = undefined;
              resolve();
            };
            const timer = setTimeout(done, LOG_POLL_MS);
            signal.addEventListener('abort', done, { once: true });
            wake = done;
          });
        }
      }
    } finally {
      subscription.unsubscribe();
    }
  }
}
