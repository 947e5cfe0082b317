import { type NatsConnection } from '@nats-io/transport-node';
import { createSubjects, ErrorCodes, GantryError, type JobCommand } from '@gantry/contracts';
import { encodeReply, errorReply, successReply } from '@gantry/messaging';
import { factsFor, stagingStoredFiles, type StoredFilesLookup } from './stored-files';

const subjects = createSubjects('unit');
const ref = (digit: string) => `file-${digit.repeat(32)}`;
const digest = (digit: string) => digit.repeat(64);

/**
 * A NATS connection that answers staging's resolve-inputs from a table of stored files, refusing
 * a list with NOT_FOUND naming its first unknown ref, as staging does; it records every ask.
 */
const stagingHolding = (stored: Record<string, number>) => {
  const asked: string[][] = [];
  const nc = {
    request: async (_subject: string, data: Uint8Array) => {
      const { refs } = JSON.parse(new TextDecoder().decode(data)).data as { refs: string[] };
      asked.push(refs);
      const missing = refs.find((r) => stored[r] === undefined);
      const reply =
        missing === undefined
          ? successReply({
              files: refs.map((r) => ({
                ref: r,
                url: `http://staging/${r}`,
                size: stored[r],
                sha256: digest(r.slice(-1)),
                expiresAt: '2026-01-01T00:00:00Z',
              })),
            })
          : errorReply(
              new GantryError(ErrorCodes.NOT_FOUND, `no staged file ${missing}`, {
                details: { ref: missing },
              }),
            );
      return { data: encodeReply(reply) };
    },
  } as unknown as NatsConnection;
  return { nc, asked };
};

describe('stagingStoredFiles', () => {
  it('answers what staging holds, leaving out each ref it does not', async () => {
    const { nc, asked } = stagingHolding({ [ref('a')]: 3, [ref('c')]: 5 });

    const stored = await stagingStoredFiles(
      nc,
      subjects,
    )({
      tenant: 'acme',
      jobId: 'j1',
      refs: [ref('a'), ref('b'), ref('c')],
    });

    expect([...stored]).toEqual([
      [ref('a'), { size: 3, sha256: digest('a') }],
      [ref('c'), { size: 5, sha256: digest('c') }],
    ]);
    expect(asked).toEqual([
      [ref('a'), ref('b'), ref('c')],
      [ref('a'), ref('c')],
    ]);
  });

  it('answers nothing stored when staging holds none of them', async () => {
    const { nc } = stagingHolding({});
    const stored = await stagingStoredFiles(
      nc,
      subjects,
    )({
      tenant: 'acme',
      jobId: 'j1',
      refs: [ref('a')],
    });
    expect(stored.size).toBe(0);
  });
});

describe('factsFor', () => {
  const lookup: StoredFilesLookup = async ({ refs }) =>
    new Map(refs.map((r) => [r, { size: 1, sha256: digest('f') }]));
  const exit = (outputs: object[]): JobCommand =>
    ({
      type: 'ReportAttemptExit',
      data: {
        jobId: 'j1',
        leaseEpoch: 1,
        rank: 0,
        exitCode: 0,
        cause: 'exited',
        outputs,
        retryJitter: 0,
      },
    }) as JobCommand;

  it('asks the store only about the refs a report names', async () => {
    const facts = await factsFor(
      exit([{ name: 'a', ref: ref('a'), size: 1, sha256: digest('a') }]),
      'acme',
      lookup,
    );
    expect([...(facts.storedFiles?.keys() ?? [])]).toEqual([ref('a')]);
  });

  it('asks nothing for a report without outputs', async () => {
    const never: StoredFilesLookup = () => Promise.reject(new Error('asked'));
    expect(await factsFor(exit([]), 'acme', never)).toEqual({});
  });
});
