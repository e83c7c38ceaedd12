import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';

/**
 * OpenTelemetry spans of the platform, through the vendor-neutral API only: without a tracer
 * provider registered (lib/platform/observability/telemetry.ts) every call here is a cheap no-op. The span tree
 * of one request: console action or API call → `run.create` → one `attempt` per attempt (in the
 * worker, continued from the traceparent stored on the run) → one `http <METHOD>` per outbound try,
 * whose W3C `traceparent` travels to the external system beside `X-Correlation-Id`. Every span
 * carries `junction.correlation_id`.
 */

export const CORRELATION_ATTRIBUTE = 'junction.correlation_id';

export function tracer() {
  return trace.getTracer('junction');
}

/** Runs `fn` inside a new span (a child of the active one, or of `parent`), ending it and recording a thrown error. */
export async function withSpan<T>(
  name: string,
  options: { attributes?: Attributes; kind?: SpanKind; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  return tracer().startActiveSpan(
    name,
    { attributes: options.attributes, kind: options.kind ?? SpanKind.INTERNAL },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** The active span as a W3C traceparent (stored on a run so the worker continues the trace), or null. */
export function activeTraceparent(): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

/** The context a stored traceparent continues; the root context when there is none. */
export function contextFromTraceparent(traceparent: string | null | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/**
 * Links `span` to the spans these stored W3C traceparents name (OpenTelemetry span links), leaving
 * out a missing or malformed one and those of the span's own trace (its parent's chain, already its
 * ancestors). The SDK keeps at most 128 links per span (its linkCountLimit).
 */
export function linkTraceparents(span: Span | undefined, items: { traceparent: string | null; attributes?: Attributes }[]): void {
  if (!span?.isRecording()) return;
  const own = span.spanContext().traceId;
  for (const item of items) {
    if (!item.traceparent) continue;
    const linked = trace.getSpanContext(contextFromTraceparent(item.traceparent));
    if (!linked || !isSpanContextValid(linked) || linked.traceId === own) continue;
    span.addLink({ context: linked, attributes: item.attributes });
  }
}

/**
 * The parent of a server span for an incoming request: the active span when the server already
 * opened one for it (Next.js continues the caller's trace itself), else the caller's W3C
 * `traceparent` (and `tracestate`) from the request headers, else the root context. A malformed
 * traceparent is ignored (a new trace starts).
 */
export function incomingContext(headers: Headers | Readonly<Record<string, string | undefined>>): Context {
  const active = context.active();
  if (trace.getSpan(active)) return active;
  const get = (key: string) => (headers instanceof Headers ? headers.get(key) : headers[key]) ?? undefined;
  return propagation.extract(ROOT_CONTEXT, { traceparent: get('traceparent'), tracestate: get('tracestate') });
}

/** Adds `traceparent` (and `tracestate`) of the active span to outbound headers. */
export function injectTraceHeaders(headers: Headers): void {
  propagation.inject(context.active(), headers, {
    set: (carrier, key, value) => carrier.set(key, value),
  });
}

export { SpanKind, SpanStatusCode };
