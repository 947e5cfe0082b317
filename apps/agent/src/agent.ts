import { CHILD_JOBS_FILE, readChildManifest } from './children';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import {
  EnrolNodeReplySchema,
  ErrorCodes,
  FileNameSchema,
  GantryError,
  KillAttemptSchema,
  LeaseOfferSchema,
  NODE_SUBJECT_KINDS,
  NodeLeaseSetSchema,
  SYSTEM_TENANT,
  logChunkMessageId,
  type CommandEnvelope,
  type EnrolNodeReply,
  type EnrolNodeRequest,
  type KillAttempt,
  type LeaseOffer,
  type LogChunk,
  type NodeCapacity,
  type NodeHeartbeat,
  type NodeLeaseSet,
  type ChildJobRequest,
  type OutputFile,
  type RunningRank,
  type SubjectCatalogue,
} from '@gantry/contracts';
import {
  commandEnvelope,
  decodeReply,
  encodeReply,
  sendCommand,
  successReply,
} from '@gantry/messaging';
import {
  DEFAULT_KILL_GRACE_MS,
  removeWorkDir,
  startAttempt,
  workDirPath,
  type AttemptHandle,
  type RunAs,
} from '@gantry/process-runner';
import { forgetRank, killOrphans, readLedger, recordRank } from './rank-ledger';
import {
  InputStagingError,
  placeStagedInputs,
  stageInputs,
  type Fetcher,
  type InputResolver,
} from './inputs';
import {
  FinishedRanks,
  backoffMs,
  isFenced,
  killTargets,
  rankKey,
  reconcile,
  reportedExitCode,
  supersededBy,
  type LocalRank,
} from './lease-decisions';
import { LogChunkWriter } from './log-chunks';
import {
  CHECKPOINT_DIR,
  OUTPUT_DIR,
  OutputStoreError,
  PROGRESS_FILE,
  collectDeclaredOutputs,
  collectOutputs,
  firstDuplicateName,
  rankOutputPrefix,
  sha256OfFile,
  storeFiles,
  type FileCreator,
  type LocalFile,
  type Uploader,
} from './outputs';
import { ProgressFileReader, checkpointPath, parseProgressLine } from './progress';

export type AgentLog = (event: string, fields?: Readonly<Record<string, unknown>>) => void;

export interface AgentOptions {
  /** The caller's connection; the agent never closes it. */
  readonly nc: NatsConnection;
  readonly subjects: SubjectCatalogue;
  readonly nodeId: string;
  readonly hostname: string;
  readonly pools: readonly string[];
  readonly capacity: NodeCapacity;
  readonly labels?: Readonly<Record<string, string>>;
  readonly workRoot: string;
  readonly enrolToken: string;
  readonly keepWorkDirs?: boolean;
  readonly log?: AgentLog;
  /** Epoch ms. */
  readonly clock?: () => number;
  readonly random?: () => number;
  /** Staging's resolve-inputs; only jobs with inputs call it. */
  readonly inputResolver?: InputResolver;
  readonly fetcher?: Fetcher;
  /** Staging's create-file: where outputs and checkpoints are stored (D4, D7). */
  readonly fileCreator?: FileCreator;
  readonly uploader?: Uploader;
  /** How often a running rank's progress file is read; 500 ms unless set. */
  readonly progressPollMs?: number;
  readonly killGraceMs?: number;
  /**
   * A preempted rank's time between SIGTERM and SIGKILL (C6): its chance to write a checkpoint,
   * which the job's next attempt resumes from (D7). The kill grace unless set.
   */
  readonly preemptGraceMs?: number;
  readonly commandTimeoutMs?: number;
  readonly runAs?: RunAs | 'auto';
}

export interface Agent {
  readonly nodeId: string;
  /** The ranks this agent holds now (what its next heartbeat reports). */
  running(): RunningRank[];
  /** Pids of the local ranks' process groups, for tests and diagnostics. */
  pids(): { readonly jobId: string; readonly rank: number; readonly pid: number }[];
  /** Resolves once every rank that had started by now has reported its exit. */
  idle(): Promise<void>;
  /**
   * Stops heartbeats and subscriptions. Running ranks are left alone unless `killRunning`: an agent
   * restart must not kill work whose lease is still good (see main.ts).
   */
  close(options?: { readonly killRunning?: boolean }): Promise<void>;
}

interface RankState extends LocalRank {
  readonly offer: LeaseOffer;
  handle?: AttemptHandle;
  killCause?: string;
  done: Promise<void>;
}

type CommandOutcome = 'ok' | 'refused';

/**
 * Whether a killed rank's reports are best effort. A preempted rank's are not: its grace period is
 * there to save a checkpoint the next attempt resumes from (C6, D7), so its progress file is read
 * until the process exits and its checkpoint is stored and reported like a running rank's.
 */
const stopsEarly = (state: { readonly killCause?: string }): boolean =>
  state.killCause !== undefined && state.killCause !== 'preempted';

/** What a rank left running by a dead agent reports: killed (SIGKILL), as it was. */
const ORPHANED_EXIT_CODE = 137;

/** Why a rank's process ended, as the controller needs to know it (ReportAttemptExit v2). */
type ExitCause = 'exited' | 'max-runtime';

/** The job's last checkpoint, as StartAttempt's answer names it (D7). */
const StartAttemptReplySchema = z.object({
  checkpoint: z
    .object({
      name: FileNameSchema,
      ref: z.string().min(1),
      size: z.number(),
      sha256: z.string(),
    })
    .nullish(),
});

/** How long an attempt's files wait for an unreachable staging (a restart takes seconds). */
const STORE_PATIENCE_MS = 60_000;

/** Progress is worth an event at most this often; the latest value is what is sent. */
const PROGRESS_REPORT_INTERVAL_MS = 1_000;

const silent: AgentLog = () => undefined;

/** Reads a request/reply answer that is either the command-reply wrapper or the bare message. */
const decodeMaybeWrapped = (bytes: Uint8Array, subject: string): unknown => {
  const raw: unknown = JSON.parse(new TextDecoder().decode(bytes));
  if (typeof raw === 'object' && raw !== null && 'ok' in raw) return decodeReply(bytes, subject);
  return raw;
};

/**
 * One node agent: enrols, heartbeats, takes leases, runs ranks with process-runner, streams their
 * output to JetStream and reports their exits to the controller. It owns nothing in the store; what it
 * knows about leases is what the scheduler's pushes and heartbeat replies told it.
 */
export const startAgent = async (options: AgentOptions): Promise<Agent> => {
  const agent = new NodeAgent(options);
  await agent.start();
  return agent;
};

class NodeAgent implements Agent {
  readonly nodeId: string;
  private readonly log: AgentLog;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly actor: string;
  private readonly js: JetStreamClient;
  private readonly ranks = new Map<string, RankState>();
  private readonly finished: FinishedRanks;
  private readonly highestEpoch = new Map<string, number>();
  private readonly subscriptions: Subscription[] = [];
  private enrolment: EnrolNodeReply | undefined;
  private sequence = 0;
  private closed = false;
  private readonly stopped: AbortController = new AbortController();
  private heartbeatLoop: Promise<void> | undefined;

  constructor(private readonly options: AgentOptions) {
    this.nodeId = options.nodeId;
    this.log = options.log ?? silent;
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.actor = `agent:${options.nodeId}`;
    this.js = jetstream(options.nc);
    this.finished = new FinishedRanks(this.clock);
  }

  async start(): Promise<void> {
    await fs.mkdir(this.options.workRoot, { recursive: true, mode: 0o711 });
    // Subscribed before enrolling, so an offer pushed right after the enrolment is not missed.
    this.subscribe(NODE_SUBJECT_KINDS.lease, LeaseOfferSchema, (offer) =>
      this.acceptOffer(offer, 'push'),
    );
    this.subscribe(NODE_SUBJECT_KINDS.kill, KillAttemptSchema, (kill) => this.onKill(kill));
    await this.options.nc.flush();
    const recovered = await this.recoverOrphans();
    await this.enrol();
    this.heartbeatLoop = this.heartbeat();
    for (const state of recovered) void this.reportExit(state, ORPHANED_EXIT_CODE);
  }

  /**
   * Ranks an earlier agent process on this node started and never reported: their processes are
   * stopped, their work directories removed, and their exits owed (reported once enrolled). They
   * are marked finished first, so a heartbeat reply still listing their lease cannot rerun them.
   */
  private async recoverOrphans(): Promise<RankState[]> {
    const recovered: RankState[] = [];
    for (const entry of await readLedger(this.options.workRoot)) {
      const killed = killOrphans(entry);
      const state: RankState = {
        offer: entry.offer,
        jobId: entry.offer.jobId,
        leaseEpoch: entry.offer.leaseEpoch,
        rank: entry.offer.rank,
        acceptedAt: this.clock(),
        done: Promise.resolve(),
      };
      this.finished.add(state);
      this.log('orphan-recovered', {
        jobId: state.jobId,
        leaseEpoch: state.leaseEpoch,
        rank: state.rank,
        killed,
      });
      await this.cleanUp(entry.workDir, undefined);
      await forgetRank(this.options.workRoot, entry.offer);
      recovered.push(state);
    }
    return recovered;
  }

  running(): RunningRank[] {
    return [...this.ranks.values()].map(({ offer }) => ({
      tenant: offer.tenant,
      jobId: offer.jobId,
      attempt: offer.attempt,
      leaseEpoch: offer.leaseEpoch,
      rank: offer.rank,
    }));
  }

  pids() {
    return [...this.ranks.values()].flatMap((r) =>
      r.handle?.pid === undefined ? [] : [{ jobId: r.jobId, rank: r.rank, pid: r.handle.pid }],
    );
  }

  async idle(): Promise<void> {
    await Promise.all([...this.ranks.values()].map((r) => r.done));
  }

  async close(options: { readonly killRunning?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopped.abort();
    for (const sub of this.subscriptions) sub.unsubscribe();
    await this.heartbeatLoop?.catch(() => undefined);
    if (options.killRunning) {
      for (const rank of this.ranks.values()) this.kill(rank, 'agent-stopped');
      await this.idle();
    }
  }

  private subscribe<S extends z.ZodType>(
    kind: string,
    schema: S,
    handle: (message: z.output<S>) => boolean,
  ): void {
    const subject = this.options.subjects.node(this.nodeId, kind);
    const sub = this.options.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return this.log('subscription-error', { subject, error: err.message });
        this.onMessage(msg, subject, schema, handle);
      },
    });
    this.subscriptions.push(sub);
  }

  private onMessage<S extends z.ZodType>(
    msg: Msg,
    subject: string,
    schema: S,
    handle: (message: z.output<S>) => boolean,
  ): void {
    let parsed: ReturnType<S['safeParse']>;
    try {
      parsed = schema.safeParse(JSON.parse(msg.string())) as ReturnType<S['safeParse']>;
    } catch {
      this.log('message-dropped', { subject, reason: 'not JSON' });
      return;
    }
    if (!parsed.success) {
      this.log('message-dropped', {
        subject,
        reason: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      });
      return;
    }
    const accepted = handle(parsed.data as z.output<S>);
    if (msg.reply) msg.respond(encodeReply(successReply({ accepted })));
  }

  private envelope(tenant: string, type: string, data: Record<string, unknown>): CommandEnvelope {
    return commandEnvelope(type, data, {
      tenant,
      occurredAt: new Date(this.clock()),
      correlationId:
        typeof data['jobId'] === 'string' ? `job-${data['jobId']}` : `node-${this.nodeId}`,
      actor: this.actor,
    });
  }

  private description() {
    return {
      nodeId: this.nodeId,
      pools: [...this.options.pools],
      labels: { ...(this.options.labels ?? {}) },
      capacity: this.options.capacity,
      hostname: this.options.hostname,
    };
  }

  /** Until the scheduler answers: it may well start after the agent. */
  private async enrol(): Promise<void> {
    const request: EnrolNodeRequest = {
      ...this.description(),
      enrolToken: this.options.enrolToken,
    };
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        const reply = await sendCommand<unknown>(
          this.options.nc,
          this.options.subjects,
          'scheduler',
          'enrol-node',
          this.envelope(SYSTEM_TENANT, 'EnrolNode', request),
          { timeoutMs: this.options.commandTimeoutMs ?? 5_000 },
        );
        this.enrolment = EnrolNodeReplySchema.parse(reply);
        this.log('enrolled', {
          nodeId: this.nodeId,
          heartbeatIntervalMs: this.enrolment.heartbeatIntervalMs,
          leaseTtlMs: this.enrolment.leaseTtlMs,
        });
        return;
      } catch (err) {
        this.log('enrol-failed', { attempt, ...errorFields(err) });
        await this.pause(backoffMs(attempt, this.random, 200, 5_000) + 50);
      }
    }
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.stopped.signal }).catch(() => undefined);
  }

  private async heartbeat(): Promise<void> {
    while (!this.closed) {
      const enrolment = this.enrolment;
      if (enrolment === undefined) return;
      const sentAt = this.clock();
      const beat: NodeHeartbeat = {
        ...this.description(),
        nodeToken: enrolment.nodeToken,
        sequence: this.sequence++,
        running: this.running(),
        sentAt: new Date(sentAt).toISOString(),
      };
      const subject = this.options.subjects.node(this.nodeId, NODE_SUBJECT_KINDS.heartbeat);
      try {
        const reply = await this.options.nc.request(subject, JSON.stringify(beat), {
          timeout: Math.max(1_000, enrolment.heartbeatIntervalMs),
        });
        const leaseSet = NodeLeaseSetSchema.parse(decodeMaybeWrapped(reply.data, subject));
        if (this.closed) return;
        if (!leaseSet.accepted) {
          this.log('heartbeat-refused', { sequence: beat.sequence });
          await this.enrol();
          continue;
        }
        this.onLeaseSet(leaseSet, sentAt);
      } catch (err) {
        this.log('heartbeat-failed', { sequence: beat.sequence, ...errorFields(err) });
      }
      const elapsed = this.clock() - sentAt;
      await this.pause(Math.max(0, enrolment.heartbeatIntervalMs - elapsed));
    }
  }

  private onLeaseSet(leaseSet: NodeLeaseSet, heartbeatSentAt: number): void {
    const decision = reconcile({
      leases: leaseSet.leases,
      local: [...this.ranks.values()],
      finished: this.finished.keys(),
      highestEpoch: this.highestEpoch,
      heartbeatSentAt,
    });
    for (const rank of decision.kill) {
      const state = this.ranks.get(rankKey(rank));
      if (state) {
        this.log('lease-lost', { jobId: rank.jobId, leaseEpoch: rank.leaseEpoch, rank: rank.rank });
        this.kill(state, 'lease-lost');
      }
    }
    for (const offer of decision.start) this.acceptOffer(offer, 'heartbeat');
  }

  /** Takes a lease's rank on unless it is stale or already known; true when it was taken. */
  private acceptOffer(offer: LeaseOffer, source: 'push' | 'heartbeat'): boolean {
    const fields = { jobId: offer.jobId, leaseEpoch: offer.leaseEpoch, rank: offer.rank, source };
    if (this.closed) return false;
    if (isFenced(this.highestEpoch, offer.jobId, offer.leaseEpoch)) {
      this.log('offer-fenced', { ...fields, highestEpoch: this.highestEpoch.get(offer.jobId) });
      return false;
    }
    this.highestEpoch.set(offer.jobId, offer.leaseEpoch);
    for (const old of supersededBy([...this.ranks.values()], offer.jobId, offer.leaseEpoch)) {
      const state = this.ranks.get(rankKey(old));
      if (state) this.kill(state, 'lease-lost');
    }
    const key = rankKey(offer);
    if (this.ranks.has(key) || this.finished.has(offer)) return false;
    const state: RankState = {
      jobId: offer.jobId,
      leaseEpoch: offer.leaseEpoch,
      rank: offer.rank,
      acceptedAt: this.clock(),
      offer,
      done: Promise.resolve(),
    };
    this.ranks.set(key, state);
    this.log('lease-accepted', { ...fields, attempt: offer.attempt });
    state.done = this.runRank(state).catch((err: unknown) =>
      this.log('rank-crashed', { ...fields, ...errorFields(err) }),
    );
    return true;
  }

  private onKill(kill: KillAttempt): boolean {
    const fields = { jobId: kill.jobId, leaseEpoch: kill.leaseEpoch, reason: kill.reason };
    if (isFenced(this.highestEpoch, kill.jobId, kill.leaseEpoch)) {
      this.log('kill-fenced', { ...fields, highestEpoch: this.highestEpoch.get(kill.jobId) });
      return false;
    }
    this.highestEpoch.set(kill.jobId, kill.leaseEpoch);
    const targets = killTargets([...this.ranks.values()], kill.jobId, kill.leaseEpoch);
    this.log('kill-received', { ...fields, ranks: targets.map((t) => t.rank) });
    for (const target of targets) {
      const state = this.ranks.get(rankKey(target));
      if (state) this.kill(state, kill.reason);
    }
    return targets.length > 0;
  }

  private kill(state: RankState, cause: string): void {
    state.killCause ??= cause;
    const grace = this.options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    void state.handle?.kill(
      state.killCause,
      state.killCause === 'preempted' ? (this.options.preemptGraceMs ?? grace) : grace,
    );
  }

  /** One rank from offer to reported exit. */
  private async runRank(state: RankState): Promise<void> {
    const { offer } = state;
    const fields = {
      jobId: offer.jobId,
      attempt: offer.attempt,
      leaseEpoch: offer.leaseEpoch,
      rank: offer.rank,
    };
    const writer = new LogChunkWriter({
      identity: {
        tenant: offer.tenant,
        jobId: offer.jobId,
        attempt: offer.attempt,
        rank: offer.rank,
        leaseEpoch: offer.leaseEpoch,
      },
      publish: (chunk) => this.publishChunk(chunk),
      onPublishError: (chunk, err) =>
        this.log('log-chunk-lost', { ...fields, seq: chunk.seq, ...errorFields(err) }),
    });
    const lease = { jobId: offer.jobId, leaseEpoch: offer.leaseEpoch };
    let stagingDir: string | undefined;
    let workDir: string | undefined;
    let exitCode: number;
    let cause: ExitCause = 'exited';
    let outputs: OutputFile[] = [];
    let children: ChildJobRequest[] = [];
    try {
      let staged: string[] = [];
      const newStagingDir = () =>
        path.join(
          this.options.workRoot,
          '.staging',
          `${offer.jobId}-${offer.attempt}-${offer.rank}-${randomUUID()}`,
        );
      if (offer.inputs.length > 0) {
        if ((await this.controller(state, 'start-staging', 'StartStaging', lease)) === 'refused') {
          return this.abandon(state);
        }
        stagingDir = newStagingDir();
        staged = await this.stage(offer, offer.inputs, stagingDir);
      }
      let started: unknown;
      if (
        state.killCause === undefined &&
        (await this.controller(state, 'start-attempt', 'StartAttempt', lease, {
          onReply: (reply) => (started = reply),
        })) === 'refused'
      ) {
        return this.abandon(state);
      }
      const dir = workDirPath({
        workRoot: this.options.workRoot,
        jobId: offer.jobId,
        attempt: offer.attempt,
        rank: offer.rank,
      });
      const platformEnv: Record<string, string> = {
        GANTRY_OUTPUT_DIR: path.join(dir, OUTPUT_DIR),
        GANTRY_PROGRESS_FILE: path.join(dir, PROGRESS_FILE),
        // D5 fan-out: rank 0 speaks for the gang.
        ...(offer.rank === 0 ? { GANTRY_CHILD_JOBS: path.join(dir, CHILD_JOBS_FILE) } : {}),
      };
      // D7: a retry resumes from the job's last checkpoint, fetched and verified like an input.
      const checkpoint = StartAttemptReplySchema.safeParse(started).data?.checkpoint;
      if (checkpoint && state.killCause === undefined) {
        const relative = path.posix.join(CHECKPOINT_DIR, checkpoint.name);
        stagingDir ??= newStagingDir();
        const input = { name: 'checkpoint', ref: checkpoint.ref, path: relative };
        staged = [...staged, ...(await this.stage(offer, [input], stagingDir))];
        platformEnv['GANTRY_CHECKPOINT'] = path.join(dir, relative);
        this.log('checkpoint-restored', { ...fields, ref: checkpoint.ref });
      }
      if (state.killCause !== undefined) {
        // Killed before its process existed: nothing to signal, but the exit is still owed.
        writer.line(
          'stderr',
          `gantry: the rank was stopped before it started (${state.killCause})`,
        );
        exitCode = 143;
      } else {
        const staging = stagingDir;
        const handle = await startAttempt({
          jobId: offer.jobId,
          attempt: offer.attempt,
          rank: offer.rank,
          worldSize: offer.worldSize,
          hosts: offer.hosts,
          coordinator: offer.coordinator,
          command: offer.command,
          env: offer.env,
          platformEnv,
          workRoot: this.options.workRoot,
          runtime: offer.runtime === 'torchrun' ? 'torchrun' : 'shell',
          runAs: this.options.runAs ?? 'auto',
          ...(offer.maxRuntimeSeconds === undefined
            ? {}
            : { maxRuntimeMs: offer.maxRuntimeSeconds * 1_000 }),
          ...(this.options.killGraceMs === undefined
            ? {}
            : { killGraceMs: this.options.killGraceMs }),
          prepareWorkDir: async (fresh: string, runAs: RunAs | undefined) => {
            if (staging !== undefined) await placeStagedInputs(staging, fresh, staged, runAs);
            await makeAttemptDirs(fresh, runAs);
          },
          onOutput: (chunk) => writer.line(chunk.stream, chunk.line),
        });
        state.handle = handle;
        workDir = handle.workDir;
        if (handle.pid !== undefined) {
          await recordRank(this.options.workRoot, {
            offer,
            pid: handle.pid,
            workDir: handle.workDir,
          });
        }
        this.log('rank-started', { ...fields, pid: handle.pid, workDir });
        if (state.killCause !== undefined) this.kill(state, state.killCause);
        const watching = this.watchProgress(state, handle.workDir, writer, handle.exited);
        const exit = await handle.exited;
        // A checkpoint written just before the exit is recorded before the exit is reported.
        await watching;
        if (exit.message !== undefined) writer.line('stderr', `gantry: ${exit.message}`);
        if (exit.survivors.length > 0)
          this.log('rank-survivors', { ...fields, survivors: exit.survivors });
        exitCode = reportedExitCode(exit);
        if (exit.reason === 'max-runtime') {
          cause = 'max-runtime';
          writer.line(
            'stderr',
            `gantry: killed at maxRuntimeSeconds (${String(offer.maxRuntimeSeconds)} s)`,
          );
        }
        this.log('rank-exited', {
          ...fields,
          exitCode,
          reason: exit.reason,
          signal: exit.signal,
          killCause: exit.killCause,
        });
        if (exitCode === 0 && state.killCause === undefined) {
          // Read before anything is stored: a bad manifest fails the rank with no uploads left.
          if (offer.rank === 0) children = await readChildManifest(handle.workDir);
          outputs = await this.storeOutputs(state, handle.workDir, writer);
          if (children.length > 0)
            this.log('children-requested', { ...fields, children: children.map((c) => c.name) });
        }
      }
    } catch (err) {
      const why =
        err instanceof InputStagingError || err instanceof OutputStoreError
          ? err.message
          : `the agent could not start the rank: ${(err as Error).message}`;
      writer.line('stderr', `gantry: ${why}`);
      this.log(err instanceof OutputStoreError ? 'outputs-not-stored' : 'rank-not-started', {
        ...fields,
        reason: why,
      });
      exitCode = 1;
      outputs = [];
      children = [];
      if (workDir === undefined) workDir = await this.workDirIfCreated(offer);
    }
    // From here on the rank is over: a late heartbeat reply listing it must not run it again.
    this.finished.add(state);
    this.ranks.delete(rankKey(state));
    await writer.finish(exitCode);
    await this.reportExit(state, exitCode, cause, outputs, children);
    await forgetRank(this.options.workRoot, offer);
    await this.cleanUp(workDir, stagingDir);
  }

  /** Fetches and checks files through staging into the agent's scratch dir (inputs, checkpoints). */
  private stage(offer: LeaseOffer, inputs: LeaseOffer['inputs'], dir: string): Promise<string[]> {
    return stageInputs({
      tenant: offer.tenant,
      jobId: offer.jobId,
      inputs,
      dir,
      resolver:
        this.options.inputResolver ??
        (() => Promise.reject(new Error('this agent has no staging resolver'))),
      ...(this.options.fetcher ? { fetcher: this.options.fetcher } : {}),
    });
  }

  private abandon(state: RankState): void {
    this.log('lease-gone', { jobId: state.jobId, leaseEpoch: state.leaseEpoch, rank: state.rank });
    this.finished.add(state);
    this.ranks.delete(rankKey(state));
  }

  private async workDirIfCreated(offer: LeaseOffer): Promise<string | undefined> {
    const dir = path.join(
      this.options.workRoot,
      offer.jobId,
      String(offer.attempt),
      String(offer.rank),
    );
    return fs.stat(dir).then(
      () => dir,
      () => undefined,
    );
  }

  private async cleanUp(
    workDir: string | undefined,
    stagingDir: string | undefined,
  ): Promise<void> {
    try {
      if (stagingDir !== undefined) await fs.rm(stagingDir, { recursive: true, force: true });
      if (workDir !== undefined && !this.options.keepWorkDirs)
        await removeWorkDir(workDir, this.options.workRoot);
    } catch (err) {
      this.log('cleanup-failed', { workDir, ...errorFields(err) });
    }
  }

  /**
   * A controller command for this rank's lease, retried while it is retryable and the rank still
   * wants it. `refused` means the lease is gone (stale epoch, illegal transition): do not run.
   */
  private async controller(
    state: RankState,
    verb: string,
    type: string,
    data: Record<string, unknown>,
    opts: {
      readonly untilDone?: boolean;
      readonly onReply?: (reply: unknown) => void;
      readonly onRefused?: (err: GantryError) => void;
    } = {},
  ): Promise<CommandOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        const reply = await sendCommand(
          this.options.nc,
          this.options.subjects,
          'controller',
          verb,
          this.envelope(state.offer.tenant, type, data),
          {
            timeoutMs: this.options.commandTimeoutMs ?? 5_000,
          },
        );
        opts.onReply?.(reply);
        return 'ok';
      } catch (err) {
        const fields = {
          verb,
          jobId: state.jobId,
          leaseEpoch: state.leaseEpoch,
          rank: state.rank,
          attempt,
          ...errorFields(err),
        };
        if (err instanceof GantryError && !err.retryable) {
          this.log('command-refused', fields);
          opts.onRefused?.(err);
          return 'refused';
        }
        this.log('command-retry', fields);
        if (this.options.nc.isClosed()) return 'refused';
        if (!opts.untilDone && stopsEarly(state)) return 'ok';
        await sleep(backoffMs(attempt, this.random, 100, 5_000) + 20);
      }
    }
  }

  /** The exit must arrive: retried until the controller records or finally refuses it. */
  private async reportExit(
    state: RankState,
    exitCode: number,
    cause: ExitCause = 'exited',
    outputs: readonly OutputFile[] = [],
    children: readonly ChildJobRequest[] = [],
  ): Promise<void> {
    let mismatch = false;
    const outcome = await this.controller(
      state,
      'report-attempt-exit',
      'ReportAttemptExit',
      {
        jobId: state.jobId,
        leaseEpoch: state.leaseEpoch,
        rank: state.rank,
        exitCode,
        cause,
        outputs,
        children,
        retryJitter: this.random(),
      },
      {
        untilDone: true,
        // A refusal of the outputs themselves (not what staging holds, or names another rank of
        // the attempt already reported) leaves the exit unrecorded: it is re-reported as failed.
        onRefused: (err) =>
          (mismatch =
            (outputs.length > 0 || children.length > 0) &&
            (err.code === ErrorCodes.OUTPUT_DIGEST_MISMATCH ||
              err.code === ErrorCodes.VALIDATION_FAILED)),
      },
    );
    this.log(outcome === 'ok' ? 'exit-reported' : 'exit-refused', {
      jobId: state.jobId,
      leaseEpoch: state.leaseEpoch,
      rank: state.rank,
      exitCode,
      outputs: outputs.length,
    });
    // Outputs the store does not vouch for cannot be the job's: the attempt failed (D4), and
    // the exit is still owed, so the retry budget decides what comes next.
    if (mismatch) await this.reportExit(state, 1, cause, []);
  }

  /**
   * Stores files of the rank's attempt as fresh staged files of its tenant (D4, D7). A staging
   * outage is waited out for a while (a restart takes seconds) rather than failing an attempt
   * whose work is done; a refusal of the bytes, or the rank's lease ending, stops at once. A retry
   * stores every file again under new refs: the refs of a failed try are never reported.
   */
  private async store(state: RankState, files: readonly LocalFile[]): Promise<OutputFile[]> {
    const create = this.options.fileCreator;
    if (create === undefined) throw new OutputStoreError('this agent has no artifact store');
    const giveUpAt = this.clock() + STORE_PATIENCE_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await storeFiles({
          tenant: state.offer.tenant,
          jobId: state.jobId,
          leaseEpoch: state.leaseEpoch,
          files,
          create,
          ...(this.options.uploader ? { upload: this.options.uploader } : {}),
        });
      } catch (err) {
        const retryable = err instanceof OutputStoreError && err.retryable;
        if (!retryable || this.clock() > giveUpAt || stopsEarly(state)) throw err;
        this.log('store-retry', { jobId: state.jobId, attempt, ...errorFields(err) });
        await this.pause(backoffMs(attempt, this.random, 500, 5_000) + 250);
      }
    }
  }

  /**
   * The rank's outputs, stored through staging once its process exited cleanly (D4): the files in
   * its output dir (another rank's named apart from rank 0's, see rankOutputPrefix) and, on rank 0,
   * the spec's declared outputs. Everything is found before anything is stored, so a missing
   * declared output fails the rank without leaving uploads behind.
   */
  private async storeOutputs(
    state: RankState,
    workDir: string,
    writer: LogChunkWriter,
  ): Promise<OutputFile[]> {
    const { files, skipped } = await collectOutputs(
      path.join(workDir, OUTPUT_DIR),
      rankOutputPrefix(state.rank),
    );
    if (skipped.length > 0) {
      writer.line(
        'stderr',
        `gantry: not outputs (only plain files directly in GANTRY_OUTPUT_DIR are): ${skipped.join(', ')}`,
      );
    }
    const declared =
      state.rank === 0 ? await collectDeclaredOutputs(workDir, state.offer.outputs ?? []) : [];
    const all = [...files, ...declared];
    const duplicate = firstDuplicateName(all);
    if (duplicate !== undefined) {
      throw new OutputStoreError(
        `two outputs are named ${duplicate} (a declared output and a file in GANTRY_OUTPUT_DIR, or two declared outputs); one must be renamed`,
      );
    }
    if (all.length === 0) return [];
    const stored = await this.store(state, all);
    this.log('outputs-stored', {
      jobId: state.jobId,
      leaseEpoch: state.leaseEpoch,
      rank: state.rank,
      outputs: stored.map((o) => o.name),
    });
    return stored;
  }

  /**
   * Follows the rank's progress file until the process exits, then reads it once more: progress
   * goes to the controller at most once a second (the latest value), each checkpoint is stored and
   * reported in order. Resolves once everything read has been reported.
   */
  private async watchProgress(
    state: RankState,
    workDir: string,
    writer: LogChunkWriter,
    exited: Promise<unknown>,
  ): Promise<void> {
    const reader = new ProgressFileReader(path.join(workDir, PROGRESS_FILE));
    const lease = { jobId: state.jobId, leaseEpoch: state.leaseEpoch, rank: state.rank };
    let done = false;
    void exited.then(() => (done = true));
    let latest: number | undefined;
    let sent: number | undefined;
    let sentAt = 0;
    const flushProgress = async (force: boolean) => {
      if (latest === undefined || latest === sent) return;
      if (!force && this.clock() - sentAt < PROGRESS_REPORT_INTERVAL_MS) return;
      sent = latest;
      sentAt = this.clock();
      await this.controller(state, 'report-progress', 'ReportProgress', {
        ...lease,
        progress: latest,
      });
    };
    for (;;) {
      const last = done;
      let lines: string[] = [];
      try {
        lines = await reader.readNew();
      } catch (err) {
        this.log('progress-unreadable', { ...lease, ...errorFields(err) });
      }
      for (const line of lines) {
        const entry = parseProgressLine(line);
        if (entry.kind === 'invalid') {
          writer.line('stderr', `gantry: progress file line skipped (${entry.reason})`);
        } else if (entry.kind === 'progress') {
          latest = entry.progress;
        } else {
          await flushProgress(true);
          await this.storeCheckpoint(state, workDir, entry, writer);
        }
      }
      await flushProgress(last);
      if (last || stopsEarly(state)) return;
      await Promise.race([exited, sleep(this.options.progressPollMs ?? 500)]);
    }
  }

  private async storeCheckpoint(
    state: RankState,
    workDir: string,
    entry: { readonly path: string; readonly sha256?: string },
    writer: LogChunkWriter,
  ): Promise<void> {
    const file = checkpointPath(workDir, entry.path);
    const skip = (why: string) =>
      writer.line('stderr', `gantry: checkpoint ${entry.path} skipped: ${why}`);
    if (file === null) return skip('it is not inside the work dir');
    try {
      // The real path too: a link must not carry the agent out of the job's own files.
      const real = await fs.realpath(file);
      if (checkpointPath(await fs.realpath(workDir), real) === null)
        return skip('it is not inside the work dir');
      const measured = await sha256OfFile(real);
      if (entry.sha256 !== undefined && entry.sha256 !== measured.sha256)
        return skip(`its sha256 is ${measured.sha256}, not ${entry.sha256}`);
      const [checkpoint] = await this.store(state, [
        { name: path.basename(real), path: real, ...measured },
      ]);
      const outcome = await this.controller(state, 'report-checkpoint', 'ReportCheckpoint', {
        jobId: state.jobId,
        leaseEpoch: state.leaseEpoch,
        rank: state.rank,
        checkpoint,
      });
      this.log(outcome === 'ok' ? 'checkpoint-reported' : 'checkpoint-refused', {
        jobId: state.jobId,
        leaseEpoch: state.leaseEpoch,
        ref: checkpoint?.ref,
      });
    } catch (err) {
      skip((err as Error).message);
    }
  }

  /** Stored before the next chunk goes: msgID makes a retried publish a no-op on the stream. */
  private async publishChunk(chunk: LogChunk): Promise<void> {
    const subject = this.options.subjects.log(chunk.tenant, chunk.jobId, chunk.attempt, chunk.rank);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.js.publish(subject, JSON.stringify(chunk), { msgID: logChunkMessageId(chunk) });
        return;
      } catch (err) {
        if (attempt >= 10 || this.options.nc.isClosed()) throw err;
        await sleep(backoffMs(attempt, this.random, 100, 2_000) + 20);
      }
    }
  }
}

/**
 * The attempt's own platform dirs in its fresh work dir, owned by the job's user so it can write
 * its outputs and progress there (inputs may already have made `.gantry`).
 */
const makeAttemptDirs = async (workDir: string, runAs: RunAs | undefined): Promise<void> => {
  for (const dir of [
    path.dirname(path.join(workDir, OUTPUT_DIR)),
    path.join(workDir, OUTPUT_DIR),
  ]) {
    await fs.mkdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    if (runAs) await fs.chown(dir, runAs.uid, runAs.gid);
  }
};

const errorFields = (err: unknown): Record<string, unknown> =>
  err instanceof GantryError
    ? { code: err.code, error: err.message, retryable: err.retryable }
    : { error: err instanceof Error ? err.message : String(err) };
