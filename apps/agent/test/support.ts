import { randomUUID } from 'node:crypto';
import { type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  EnrolNodeRequestSchema,
  NodeHeartbeatSchema,
  type CommandEnvelope,
  type LeaseOffer,
  type NodeHeartbeat,
  type SubjectCatalogue,
} from '@gantry/contracts';
import { encodeReply, sendCommand, successReply } from '@gantry/messaging';
import path from 'node:path';
import { type AgentOptions } from '../src/agent';

/**
 * A scheduler reduced to what an agent talks to: it enrols anyone with the right token, answers
 * heartbeats with the leases the test put in its book, and pushes offers and kills on request.
 * Plain NATS subscriptions, so the agent is tested against the wire contract, not a Nest app.
 */
export class FakeScheduler {
  readonly heartbeats: NodeHeartbeat[] = [];
  readonly enrolled: string[] = [];
  private readonly leases = new Map<string, LeaseOffer[]>();
  private readonly subs: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: SubjectCatalogue,
    private readonly heartbeatIntervalMs = 200,
  ) {}

  start(nodeIds: readonly string[]): void {
    this.subs.push(
      this.nc.subscribe(this.subjects.command('scheduler', 'enrol-node'), {
        callback: (_err, msg) => {
          const envelope = msg.json<CommandEnvelope>();
          const request = EnrolNodeRequestSchema.parse(envelope.data);
          this.enrolled.push(request.nodeId);
          msg.respond(
            encodeReply(
              successReply({
                nodeId: request.nodeId,
                nodeToken: `token-${request.nodeId}`,
                heartbeatIntervalMs: this.heartbeatIntervalMs,
                leaseTtlMs: 30_000,
              }),
            ),
          );
        },
      }),
    );
    for (const nodeId of nodeIds) {
      this.subs.push(
        this.nc.subscribe(this.subjects.node(nodeId, 'heartbeat'), {
          callback: (_err, msg) => {
            const beat = NodeHeartbeatSchema.parse(msg.json());
            this.heartbeats.push(beat);
            msg.respond(JSON.stringify({ accepted: true, leases: this.leases.get(nodeId) ?? [] }));
          },
        }),
      );
    }
  }

  /** Puts a lease in the book (heartbeat replies list it) and optionally pushes it. */
  grant(nodeId: string, offer: LeaseOffer, push = true): void {
    this.leases.set(nodeId, [...(this.leases.get(nodeId) ?? []), offer]);
    if (push) this.push(nodeId, offer);
  }

  revoke(nodeId: string, jobId: string): void {
    this.leases.set(
      nodeId,
      (this.leases.get(nodeId) ?? []).filter((l) => l.jobId !== jobId),
    );
  }

  push(nodeId: string, offer: LeaseOffer): void {
    this.nc.publish(this.subjects.node(nodeId, 'lease'), JSON.stringify(offer));
  }

  kill(nodeId: string, kill: Record<string, unknown>): void {
    this.nc.publish(this.subjects.node(nodeId, 'kill'), JSON.stringify(kill));
  }

  heartbeatsOf(nodeId: string): NodeHeartbeat[] {
    return this.heartbeats.filter((h) => h.nodeId === nodeId);
  }

  stop(): void {
    for (const sub of this.subs) sub.unsubscribe();
  }
}

export const anOffer = (
  overrides: Partial<LeaseOffer> & Pick<LeaseOffer, 'jobId'>,
): LeaseOffer => ({
  tenant: 'acme',
  attempt: 1,
  leaseEpoch: 1,
  rank: 0,
  worldSize: 1,
  hosts: ['n1'],
  coordinator: 'n1:29500',
  leaseExpiresAt: new Date(Date.now() + 30_000).toISOString(),
  command: ['true'],
  env: {},
  resources: { cpu: 1, memoryMiB: 64, gpu: 0 } as LeaseOffer['resources'],
  runtime: 'shell',
  inputs: [],
  ...overrides,
});

export const aCommand = (
  tenant: string,
  type: string,
  data: Record<string, unknown>,
): CommandEnvelope => ({
  id: randomUUID(),
  type,
  schemaVersion: 1,
  data,
  metadata: {
    tenant,
    occurredAt: new Date().toISOString(),
    causationId: null,
    correlationId: `corr-${randomUUID()}`,
    actor: tenant === '_system' ? 'scheduler' : `key-${tenant}`,
  },
});

export const eventually = async <T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/**
 * The options every test agent shares: node `nodeId` of pool cpu with 2 cores and 1 GiB, its work
 * directory below `workRoot`, the fake scheduler's enrol token and a short kill grace.
 */
export const testAgentOptions = (
  connection: { readonly nc: NatsConnection; readonly subjects: SubjectCatalogue },
  workRoot: string,
  nodeId: string,
) =>
  ({
    nc: connection.nc,
    subjects: connection.subjects,
    nodeId,
    hostname: nodeId,
    pools: ['cpu'],
    capacity: { cpu: 2, memoryMiB: 1024, gpu: 0 },
    workRoot: path.join(workRoot, nodeId),
    enrolToken: 'test-token',
    killGraceMs: 2_000,
  }) satisfies Partial<AgentOptions>;

/** A command to the controller as the tenant, waited on as an int test can afford to. */
export const controllerCommand =
  (nc: NatsConnection, subjects: SubjectCatalogue, tenant: string) =>
  <T = { jobId: string; state: string }>(
    verb: string,
    type: string,
    data: Record<string, unknown>,
  ): Promise<T> =>
    sendCommand<T>(nc, subjects, 'controller', verb, aCommand(tenant, type, data), {
      timeoutMs: 15_000,
    });
