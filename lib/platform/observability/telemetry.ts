import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace';

/**
 * Starts tracing for a process (web or worker), once. Spans are always created, so the W3C
 * `traceparent` reaches external systems and runs continue their trace; they are exported over
 * OTLP/HTTP (JSON) only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`<endpoint>/v1/traces`), else
 * dropped. `OTEL_SERVICE_NAME` overrides the service name.
 */
export interface TelemetryHandle {
  /** Sends what is buffered and stops exporting (at shutdown). */
  shutdown(): Promise<void>;
  /** Sends what is buffered now. */
  flush(): Promise<void>;
}

const KEY = Symbol.for('junction.telemetry');

export function startTelemetry(options: {
  serviceName: string;
  /** Default `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  endpoint?: string;
  /** Extra processors (tests). */
  processors?: SpanProcessor[];
}): TelemetryHandle {
  const holder = globalThis as { [KEY]?: TelemetryHandle };
  if (holder[KEY]) return holder[KEY];
  const endpoint = options.endpoint ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const processors: SpanProcessor[] = [...(options.processors ?? [])];
  if (endpoint) {
    const url = `${endpoint.replace(/\/+$/, '')}/v1/traces`;
    processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }), scheduledDelayMillis: 1_000 }));
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? options.serviceName }),
    spanProcessors: processors,
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const handle: TelemetryHandle = {
    flush: () => provider.forceFlush(),
    shutdown: async () => {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
      delete holder[KEY];
    },
  };
  holder[KEY] = handle;
  return handle;
}
