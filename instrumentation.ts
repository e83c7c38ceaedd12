/**
 * Next.js calls register() once when the server starts: tracing for the web process (spans for
 * console actions and API calls; OTLP export only with OTEL_EXPORTER_OTLP_ENDPOINT).
 */
export async function register() {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;
  const { startTelemetry } = await import('./lib/platform/observability/telemetry');
  startTelemetry({ serviceName: 'junction-web' });
}
