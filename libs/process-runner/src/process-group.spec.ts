import { cgroupLimitValues } from './cgroup';
import { parseProcStat } from './process-group';

describe('parseProcStat', () => {
  it('reads state and process group even when the command name holds ") "', () => {
    expect(parseProcStat('4242 (evil) S 1 2) R 1 77 77 0 -1 4194560 0')).toEqual({
      pid: 4242,
      state: 'R',
      pgrp: 77,
    });
  });

  it('reads a zombie', () => {
    expect(parseProcStat('12 (sleep) Z 1 10 10 0 -1')).toEqual({ pid: 12, state: 'Z', pgrp: 10 });
  });
});

describe('cgroupLimitValues', () => {
  it.each([
    [
      '1.5 cores and 512 MiB',
      { cpu: 1.5, memoryMiB: 512 },
      { cpuMax: '150000 100000', memoryMax: '536870912' },
    ],
    ['only memory', { memoryMiB: 1 }, { memoryMax: '1048576' }],
    ['a tiny cpu share is floored at 1 ms per period', { cpu: 0.001 }, { cpuMax: '1000 100000' }],
  ])('%s', (_name, limits, expected) => {
    expect(cgroupLimitValues(limits)).toEqual(expected);
  });
});
