import { planExports } from './export-plan';

describe('planExports', () => {
  it('exports nothing by default, instead of the SDK default of OTLP to localhost', () => {
    const plan = planExports({});
    expect([plan.traces.kind, plan.metrics.kind, plan.logs.kind]).toEqual(['none', 'none', 'none']);
  });

  it.each([
    [
      'an exporter name',
      { OTEL_TRACES_EXPORTER: 'console' },
      { kind: 'env', exporters: ['console'] },
    ],
    [
      'several names, unknown ones dropped',
      { OTEL_TRACES_EXPORTER: 'otlp, jaeger' },
      { kind: 'env', exporters: ['otlp'] },
    ],
    [
      'an OTLP endpoint alone',
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' },
      { kind: 'env', exporters: ['otlp'] },
    ],
    [
      'a traces-only OTLP endpoint',
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' },
      { kind: 'env', exporters: ['otlp'] },
    ],
    [
      'none, even with an endpoint',
      { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' },
      { kind: 'none' },
    ],
    ['only names the SDK lacks', { OTEL_TRACES_EXPORTER: 'jaeger' }, { kind: 'none' }],
  ])('traces from %s', (_name, env, expected) => {
    expect(planExports(env).traces).toMatchObject(expected);
  });

  it('plans each signal on its own', () => {
    const plan = planExports({
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://c:4318/v1/logs',
    });
    expect(plan.traces.kind).toBe('none');
    expect(plan.metrics).toEqual({ kind: 'env', exporters: ['prometheus'] });
    expect(plan.logs).toEqual({ kind: 'env', exporters: ['otlp'] });
  });
});
