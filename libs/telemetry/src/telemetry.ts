import { type Attributes, context, diag, metrics, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import { type ExportPlan, planExports } from './export-plan';

type SdkNode = typeof import('@opentelemetry/sdk-node');
export type SpanProcessor = NonNullable<NodeSDKConfiguration['spanProcessors']>[number];
export type Instrumentation = NodeSDKConfiguration['instrumentations'][number];

export interface TelemetryOptions {
  /** `service.name` on every span: `gateway`, `scheduler`, `event-publisher`... */
  readonly serviceName: string;
  readonly serviceVersion?: string;
  /** Extra resource attributes (deployment environment, instance id...). */
  readonly resourceAttributes?: Attributes;
  readonly instrumentations?: readonly Instrumentation[];
  /** Replaces the exporters the environment asks for; tests pass an in-memory exporter here. */
  readonly spanProcessors?: readonly SpanProcessor[];
  /** Where OTEL_* settings are read from; the process environment by default. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface Telemetry {
  readonly serviceName: string;
  readonly exports: ExportPlan;
  /** Flushes pending exports and unregisters the SDK; safe to call more than once. */
  shutdown(): Promise<void>;
}

let running: Telemetry | undefined;

/**
 * Starts the OpenTelemetry Node SDK once per process: W3C trace context propagation, a resource
 * naming the service, and exporters only where OTEL_* asks for them (see export-plan.ts). Call it
 * before importing modules that instrumentations patch. A second call returns the running
 * instance instead of registering a second SDK, whose global registrations would be refused.
 * OTEL_SDK_DISABLED=true is honoured: no SDK, and so no trace ids.
 */
export const startTelemetry = (options: TelemetryOptions): Telemetry => {
  if (running) {
    if (running.serviceName !== options.serviceName) {
      diag.warn(
        `telemetry already started as ${running.serviceName}; ignoring the request to start as ${options.serviceName}`,
      );
    }
    return running;
  }
  const env = options.env ?? process.env;
  const exports = planExports(env);
  // Loaded here, not at the top: the SDK costs ~0.4 s to load, and libraries that only put a
  // traceparent into an envelope import this package without ever starting it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { NodeSDK, resources, tracing } = require('@opentelemetry/sdk-node') as SdkNode;

  const sdk = new NodeSDK({
    serviceName: options.serviceName,
    resource: resources.resourceFromAttributes({
      ...(options.serviceVersion ? { 'service.version': options.serviceVersion } : {}),
      ...options.resourceAttributes,
    }),
    textMapPropagator: new W3CTraceContextPropagator(),
    instrumentations: [...(options.instrumentations ?? [])],
    // Undefined hands the choice to the SDK's OTEL_* handling; a no-op processor still makes the
    // SDK register a tracer provider, so spans get real ids without being exported.
    spanProcessors: options.spanProcessors
      ? [...options.spanProcessors]
      : exports.traces.kind === 'env'
        ? undefined
        : [new tracing.NoopSpanProcessor()],
    ...(exports.metrics.kind === 'none' ? { metricReaders: [] } : {}),
    ...(exports.logs.kind === 'none' ? { logRecordProcessors: [] } : {}),
  });
  sdk.start();

  let stopping: Promise<void> | undefined;
  const handle: Telemetry = {
    serviceName: options.serviceName,
    exports,
    shutdown: () => {
      stopping ??= sdk.shutdown().finally(() => {
        // NodeSDK leaves its providers registered; clearing them lets a later start register
        // afresh (tests, and a service restarting in-process) instead of being refused.
        trace.disable();
        propagation.disable();
        context.disable();
        metrics.disable();
        if (running === handle) running = undefined;
      });
      return stopping;
    },
  };
  running = handle;
  return handle;
};
