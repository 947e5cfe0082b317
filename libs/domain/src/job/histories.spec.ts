import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventRegistry, type JobEvent } from '@gantry/contracts';
import { evolve, initialJobState, isLegalTransition, type JobState } from './job.aggregate';

/**
 * Every recorded history (test/histories/*.json) is read through today's upcasters and folded
 * through today's evolve: each must still be a legal path through the state machine, so a
 * change to the machine that would strand what production already stored fails here.
 */
const dir = join(__dirname, '..', '..', '..', '..', 'test', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

const replay = (file: string): { final: JobState; path: string[] } => {
  const raw = JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown[];
  const envelopes = raw.map((r) => eventRegistry.parseEvent(r));
  const first = envelopes[0]!;
  let state = initialJobState({
    tenant: first.metadata.tenant,
    jobId: String(first.data['jobId']),
  });
  const path: string[] = [state.state];
  for (const envelope of envelopes) {
    // Parsed by the registry, so the data has the current shape of its type.
    const event = { type: envelope.type, data: envelope.data } as JobEvent;
    const next = evolve(state, event);
    if (next.state !== state.state) {
      expect(next.state !== 'NONE' && isLegalTransition(state.state, next.state)).toBe(true);
      path.push(next.state);
    }
    state = next;
  }
  return { final: state, path };
};

describe('recorded job histories replay through evolve', () => {
  it('exist, including a multi-node one', () => expect(files.length).toBeGreaterThan(1));

  it.each(files)('%s is a legal path', (file) => {
    const { final, path } = replay(file);

    expect(final.state).not.toBe('NONE');
    expect(path[0]).toBe('NONE');
  });

  it('the 2-node job lost a node, retried on another, and succeeded on attempt 2', () => {
    const { final, path } = replay('job-2-node-lost-retried-succeeded.json');

    expect(path).toEqual([
      'NONE',
      'PENDING',
      'ADMITTED',
      'QUEUED',
      'LEASED',
      'STAGING',
      'RUNNING',
      'QUEUED',
      'LEASED',
      'STAGING',
      'RUNNING',
      'SUCCEEDED',
    ]);
    expect(final).toMatchObject({
      tenant: 'acme',
      attempt: 2,
      leaseEpoch: 2,
      nodes: [
        { nodeId: 'node-a', rank: 0 },
        { nodeId: 'node-c', rank: 1 },
      ],
      exitCodes: [0, 0],
      failures: [{ attempt: 1, reason: 'attempt 1: node node-b (rank 1) was lost' }],
    });
  });

  it('the preempted job went back to the queue without a failure and resumed from its checkpoint', () => {
    const { final, path } = replay('job-preempted-resumed-succeeded.json');

    expect(path).toEqual([
      'NONE',
      'PENDING',
      'ADMITTED',
      'QUEUED',
      'LEASED',
      'RUNNING',
      'QUEUED',
      'LEASED',
      'RUNNING',
      'SUCCEEDED',
    ]);
    expect(final).toMatchObject({
      attempt: 2,
      preemptions: 1,
      preemptRequest: null,
      failures: [],
      checkpoint: { name: 'state.ckpt', attempt: 1 },
    });
  });
});
