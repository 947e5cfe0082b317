/**
 * A small client of the public REST API, for the demo, the end-to-end tests and the benchmark:
 * it speaks only HTTP to the gateway, exactly as a tenant's tooling would.
 */
export interface ApiReply<T = unknown> {
  readonly status: number;
  readonly contentType: string;
  readonly body: T;
  readonly text: string;
}

export interface LogEvent {
  readonly id: string;
  readonly event: string;
  readonly data: string;
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'DEAD_LETTER', 'REJECTED']);
export const isTerminalState = (state: string): boolean => TERMINAL.has(state);

export class GatewayClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | null,
  ) {}

  as(token: string | null): GatewayClient {
    return new GatewayClient(this.baseUrl, token);
  }

  async call<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    options: { body?: unknown; raw?: string | Uint8Array; headers?: Record<string, string> } = {},
  ): Promise<ApiReply<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.token) headers['authorization'] = `Bearer ${this.token}`;
    let body: string | Uint8Array | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(options.body);
    }
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await res.text();
    const contentType = res.headers.get('content-type') ?? '';
    const parsed = /json/.test(contentType) && text.length > 0 ? JSON.parse(text) : text;
    return { status: res.status, contentType, body: parsed as T, text };
  }

  async createTenant(
    id: string,
    quotas: Record<string, number> = { cores: 64, concurrentJobs: 100 },
  ): Promise<string> {
    const reply = await this.call<{ apiKey: string }>('POST', '/v1/admin/tenants', {
      body: { id, name: id, quotas },
    });
    if (reply.status !== 201) throw new Error(`create tenant ${id}: ${reply.status} ${reply.text}`);
    return reply.body.apiKey;
  }

  async submit(
    spec: Record<string, unknown>,
    idempotencyKey?: string,
  ): Promise<ApiReply<{ id: string; state: string }>> {
    return this.call('POST', '/v1/jobs', {
      body: spec,
      ...(idempotencyKey ? { headers: { 'idempotency-key': idempotencyKey } } : {}),
    });
  }

  async job(id: string): Promise<Record<string, unknown> & { state: string }> {
    const reply = await this.call<Record<string, unknown> & { state: string }>(
      'GET',
      `/v1/jobs/${id}`,
    );
    if (reply.status !== 200) throw new Error(`get job ${id}: ${reply.status} ${reply.text}`);
    return reply.body;
  }

  /** Polls until the job's state satisfies `until` (default: a terminal state). */
  async waitForJob(
    id: string,
    until: (state: string) => boolean = isTerminalState,
    timeoutMs = 60_000,
  ): Promise<Record<string, unknown> & { state: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.job(id);
      if (until(job.state)) return job;
      if (Date.now() > deadline) {
        throw new Error(`job ${id} still ${job.state} after ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Follows a job's logs over SSE until the server ends the stream, the signal aborts, or
   * `onEvent` returns false. Returns the last event id, to resume from with Last-Event-ID.
   */
  async followLogs(
    id: string,
    onEvent: (event: LogEvent) => boolean | void,
    options: { lastEventId?: string; signal?: AbortSignal } = {},
  ): Promise<string | undefined> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.token) headers['authorization'] = `Bearer ${this.token}`;
    if (options.lastEventId) headers['last-event-id'] = options.lastEventId;
    const controller = new AbortController();
    options.signal?.addEventListener('abort', () => controller.abort());
    const res = await fetch(`${this.baseUrl}/v1/jobs/${id}/logs?follow=true`, {
      headers,
      signal: controller.signal,
    });
    if (res.status !== 200 || !res.body) {
      throw new Error(`follow ${id}: ${res.status} ${await res.text()}`);
    }
    let lastId = options.lastEventId;
    let buffer = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let boundary: number;
        while ((boundary = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          const event = parseSseBlock(block);
          if (!event) continue;
          if (event.id) lastId = event.id;
          if (event.event === 'end' || onEvent(event) === false) {
            controller.abort();
            return lastId;
          }
        }
      }
    } catch (err) {
      if (!controller.signal.aborted) throw err;
    }
    return lastId;
  }
}

/** One SSE event block; comments (`: ping`) and empty blocks give undefined. */
export const parseSseBlock = (block: string): LogEvent | undefined => {
  let id = '';
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':') || line.length === 0) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0 && event === 'message') return undefined;
  return { id, event, data: data.join('\n') };
};
