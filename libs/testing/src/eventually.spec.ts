import { eventually } from './eventually';

describe('eventually', () => {
  it('returns the first value that is neither undefined nor false', async () => {
    let calls = 0;
    const value = await eventually(() => {
      calls += 1;
      return calls < 3 ? (calls === 1 ? undefined : false) : 'ready';
    }, 'the value');
    expect({ value, calls }).toEqual({ value: 'ready', calls: 3 });
  });

  it('names what it waited for, with context, when time runs out', async () => {
    await expect(
      eventually(
        () => undefined,
        'the moon',
        30,
        () => 'it was cloudy',
      ),
    ).rejects.toThrow(/timed out waiting for the moon\nit was cloudy/);
  });
});
