import { Attr } from './attributes';

describe('the attribute catalogue', () => {
  const names = Object.values(Attr);

  it('gives every attribute its own name', () => {
    expect(new Set(names).size).toBe(names.length);
  });

  it('keeps every name in the gantry namespace, in OpenTelemetry style', () => {
    for (const name of names) expect(name).toMatch(/^gantry(\.[a-z][a-z0-9_]*)+$/);
  });
});
