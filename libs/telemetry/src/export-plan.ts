/**
 * Which signals leave the process. The OpenTelemetry SDK's own default is OTLP to
 * localhost:4318 for traces, metrics and logs; on a developer machine or in CI with no collector
 * that means a retry loop and an error every export interval. Gantry's default is the opposite:
 * export nothing unless the standard OTEL_* variables ask for it. Spans are still created either
 * way, because trace ids must reach message envelopes whether or not anyone collects them.
 */
export type SignalExport =
  /** Let the SDK build exporters from the OTEL_* variables. */
  | { readonly kind: 'env'; readonly exporters: readonly string[] }
  /** Export nothing (traces: spans are still recorded so ids propagate). */
  | { readonly kind: 'none'; readonly why: string };

export interface ExportPlan {
  readonly traces: SignalExport;
  readonly metrics: SignalExport;
  readonly logs: SignalExport;
}

type Signal = 'TRACES' | 'METRICS' | 'LOGS';

/** What @opentelemetry/sdk-node 0.223 can build from OTEL_<SIGNAL>_EXPORTER. */
const SUPPORTED: Record<Signal, readonly string[]> = {
  TRACES: ['otlp', 'zipkin', 'console'],
  METRICS: ['otlp', 'prometheus', 'console'],
  LOGS: ['otlp', 'console'],
};

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter((item) => item !== '' && item !== 'null');

const planSignal = (signal: Signal, env: NodeJS.ProcessEnv): SignalExport => {
  const variable = `OTEL_${signal}_EXPORTER`;
  const requested = list(env[variable]);
  if (requested.length === 0) {
    const endpoint =
      env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`] ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
    // An endpoint without an exporter name is the spec's way of asking for OTLP.
    return endpoint
      ? { kind: 'env', exporters: ['otlp'] }
      : { kind: 'none', why: `${variable} and OTEL_EXPORTER_OTLP_ENDPOINT are not set` };
  }
  if (requested.includes('none')) return { kind: 'none', why: `${variable}=none` };
  const known = requested.filter((name) => SUPPORTED[signal].includes(name));
  // The SDK registers no provider at all when none of the names is known, which for traces
  // would leave every span invalid and envelopes without a traceparent.
  return known.length > 0
    ? { kind: 'env', exporters: known }
    : {
        kind: 'none',
        why: `${variable}=${env[variable]} names no exporter this SDK has (${SUPPORTED[signal].join(', ')})`,
      };
};

export const planExports = (env: NodeJS.ProcessEnv): ExportPlan => ({
  traces: planSignal('TRACES', env),
  metrics: planSignal('METRICS', env),
  logs: planSignal('LOGS', env),
});
