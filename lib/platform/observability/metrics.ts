import { createHash, timingSafeEqual } from 'node:crypto';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of this process (prom-client). Events are counted where they happen: runs,
 * attempts, outbound HTTP and alert deliveries in the worker that executes them, so every worker
 * serves its own counters (GET /metrics on METRICS_PORT) and Prometheus sums over instances. A run
 * that ends outside a worker (a started run cancelled while waiting for its next attempt) is counted
 * finished by the process that cancelled it (the web app, served at /api/metrics).
 * State that lives in the database (queued runs, breakers) is not counted here but read once per
 * scrape by the web app (lib/platform/read-models/metrics-gauges.ts), so N workers do not report it
 * N times.
 *
 * One registry per process, kept on globalThis: a module loaded twice (Next.js bundles, dev reloads)
 * must not register the same metric twice.
 */

export interface PlatformMetrics {
  registry: Registry;
  runsStarted: Counter<'integration' | 'trigger'>;
  runsFinished: Counter<'integration' | 'trigger' | 'outcome'>;
  attemptDuration: Histogram<'integration' | 'outcome'>;
  outboundRequests: Counter<'integration' | 'status_class'>;
  alertDeliveries: Counter<'channel_type' | 'outcome'>;
  webhookEvents: Counter<'integration' | 'outcome'>;
  batchSettleFallbacks: Counter;
}

const KEY = Symbol.for('junction.platform-metrics');

function create(): PlatformMetrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    runsStarted: new Counter({
      name: 'junction_runs_started_total',
      help: 'Runs whose first attempt started, by integration and trigger (schedule, manual, retry, api).',
      labelNames: ['integration', 'trigger'],
      registers,
    }),
    runsFinished: new Counter({
      name: 'junction_runs_finished_total',
      help: 'Runs that ended, by integration, trigger and outcome (succeeded, failed, cancelled, failed_before_start), counted once by the process that ended them: the worker (an attempt outcome, or a run failed when its job was delivered) or the web app (a started run cancelled while it waited for its next attempt). failed_before_start: a run failed without ever starting (e.g. no handler registered in the worker that got it), never counted in junction_runs_started_total; all failed runs are outcome=~"failed|failed_before_start". A run cancelled before it started is counted in neither. Summed over instances, junction_runs_started_total minus junction_runs_finished_total{outcome!="failed_before_start"} is the runs in flight.',
      labelNames: ['integration', 'trigger', 'outcome'],
      registers,
    }),
    attemptDuration: new Histogram({
      name: 'junction_attempt_duration_seconds',
      help: 'Duration of attempts, from start to recorded outcome, by integration and outcome (succeeded, failed, retrying, deferred, cancelled, released, interrupted).',
      labelNames: ['integration', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    }),
    outboundRequests: new Counter({
      name: 'junction_outbound_http_requests_total',
      help: 'Requests sent to external systems through ctx.http (each try), by integration and status class (2xx..5xx, timeout, network_error).',
      labelNames: ['integration', 'status_class'],
      registers,
    }),
    alertDeliveries: new Counter({
      name: 'junction_alert_deliveries_total',
      help: 'Alert delivery attempts, by channel type (webhook, slack, email) and outcome (delivered, failed, gave_up).',
      labelNames: ['channel_type', 'outcome'],
      registers,
    }),
    webhookEvents: new Counter({
      name: 'junction_webhook_events_total',
      help: 'Inbound webhook events, by integration and outcome (accepted, duplicate, rejected, failed: not stored, answered 503): incremented by the intake through recordWebhookIntake().',
      labelNames: ['integration', 'outcome'],
      registers,
    }),
    batchSettleFallbacks: new Counter({
      name: 'junction_run_batch_settle_fallbacks_total',
      help: 'Fetched batches whose shared success transaction failed (a database error), so each run was recorded on its own: should stay 0.',
      registers,
    }),
  };
}

export function platformMetrics(): PlatformMetrics {
  const holder = globalThis as { [KEY]?: PlatformMetrics };
  holder[KEY] ??= create();
  return holder[KEY];
}

/** Process metrics (CPU, memory, event loop lag) on the same registry, once per process. */
export function collectProcessMetrics(): void {
  const holder = globalThis as { [KEY]?: PlatformMetrics; junctionProcessMetrics?: boolean };
  if (holder.junctionProcessMetrics) return;
  holder.junctionProcessMetrics = true;
  collectDefaultMetrics({ register: platformMetrics().registry, prefix: 'junction_' });
}

/** "2xx".."5xx" for a status; the error kinds for requests without an answer. */
export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

/**
 * The hook for inbound webhook intake: call once per received event with what became of it.
 * Kept here, beside the other counters, so the intake needs no metrics code of its own.
 */
export function recordWebhookIntake(integration: string, outcome: 'accepted' | 'duplicate' | 'rejected' | 'failed'): void {
  platformMetrics().webhookEvents.inc({ integration, outcome });
}

/**
 * `Authorization: Bearer <METRICS_TOKEN>` check for a metrics endpoint: constant-time, and no
 * token configured means the endpoint is off.
 */
export function metricsAccess(
  header: string | null,
  token: string | undefined,
): { ok: true } | { ok: false; status: 401 | 404; error: string } {
  if (!token) return { ok: false, status: 404, error: 'Metrics are off: set METRICS_TOKEN to serve them.' };
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) return { ok: false, status: 401, error: 'Metrics need Authorization: Bearer <METRICS_TOKEN>.' };
  const digest = (value: string) => createHash('sha256').update(value).digest();
  const same = timingSafeEqual(digest(match[1]), digest(token)) ? 0 : 1;
  if (same !== 0) return { ok: false, status: 401, error: 'Wrong metrics token.' };
  return { ok: true };
}
