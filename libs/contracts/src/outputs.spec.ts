import { commandRegistry, eventRegistry, OutputFilesSchema } from './index';

/** D4's versioned shapes: what was recorded before outputs existed still reads, as "none". */
const rankExitedV1 = {
  jobId: 'j1',
  attempt: 1,
  leaseEpoch: 1,
  rank: 0,
  nodeId: 'n1',
  exitCode: 0,
  exitedAt: '2026-11-23T10:00:00.000Z',
};
const output = (name: string) => ({
  name,
  ref: `file-${'a'.repeat(32)}`,
  size: 1,
  sha256: 'b'.repeat(64),
});

describe('outputs in the contracts', () => {
  it('reads a RankExited v1 as a v2 exit with no outputs (and, from before fan-out, no children)', () => {
    expect(eventRegistry.upcast('RankExited', 1, rankExitedV1)).toEqual({
      ...rankExitedV1,
      outputs: [],
      children: [],
    });
  });

  it.each([1, 2])('reads a ReportAttemptExit v%i as one reporting no outputs', (version) => {
    const data = { jobId: 'j1', leaseEpoch: 1, rank: 0, exitCode: 0, retryJitter: 0.5 };
    expect(commandRegistry.upcast('ReportAttemptExit', version, data)).toMatchObject({
      outputs: [],
      cause: 'exited',
    });
  });

  it.each([
    ['two outputs of one name', [output('a.bin'), output('a.bin')]],
    ['a name with a directory', [output('dir/a.bin')]],
    ['a ref that is not a staged file', [{ ...output('a.bin'), ref: 'elsewhere' }]],
  ])('refuses %s', (_case, outputs) => {
    expect(OutputFilesSchema.safeParse(outputs).success).toBe(false);
  });
});
