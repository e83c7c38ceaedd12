-- The W3C traceparent of the delivery that stored each event: an event that joins an event run
-- already queued (created by an earlier delivery, whose trace the run continues) would otherwise
-- lose its sender's trace; the attempt that applies it links to it (an OpenTelemetry span link).
-- Nullable, no default: adding it rewrites nothing.
ALTER TABLE "webhook_events" ADD COLUMN "trace_parent" text;
