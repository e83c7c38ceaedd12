import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq, inArray, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connect, disconnect } from '../db/client';
import { attempts, integrations, runs, webhookEvents } from '../db/schema';
import { defineIntegration, type IntegrationDefinition } from '../lib/platform/contract';
import { TransientError } from '../lib/platform/errors';
import { sendRunJob } from '../lib/platform/execution/queue';
import { DEFAULT_MAX_INTERRUPTIONS } from '../lib/platform/execution/runner';
import { startPlatformWorker, type PlatformWorker } from '../lib/platform/execution/worker';
import { keyringFrom } from '../lib/platform/governance/crypto';
import type { IntakeListener } from '../lib/platform/intake/listener';
import { addWebhookSecret } from '../lib/platform/intake/secrets';
import { startMetricsServer } from '../lib/platform/observability/metrics-server';
import { startTelemetry, type TelemetryHandle } from '../lib/platform/observability/telemetry';
import { CORRELATION_ATTRIBUTE, withSpan } from '../lib/platform/observability/tracing';
import { databaseGauges, gaugeRegistry, readQueueAndBreakerGauges } from '../lib/platform/read-models/metrics-gauges';
import { buildRegistry } from '../lib/platform/registry';
import { openBreaker } from '../lib/platform/resilience/breaker';
import { createHttpClient } from '../lib/platform/resilience/http';
import { oauth2Provider, parseOAuth2Config } from '../lib/platform/resilience/oauth2';
import { cancelRun, runNow } from '../lib/platform/triggers/triggers';
import { DEFAULT_CLIENT } from '../sandbox/oauth-server';
import { startStandIns, type StandIns } from '../sandbox/stand-ins';
import { freshDatabase, type TestDatabase } from './db';
import { startIntakeServer } from './fixtures/intake-server';
import { startTestBoss, TEST_WORKER_OPTIONS, waitFor } from './fixtures/platform';

/**
 * Metrics and traces of one real run (issue 19): a real worker on real PostgreSQL calls the CRM
 * stand-in over HTTP; the worker's metrics endpoint is scraped before and after, and the spans are
 * exported over OTLP/HTTP to a small receiver in this process.
 */

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  links?: { traceId: string; spanId: string; attributes?: OtlpSpan['attributes'] }[];
  attributes: { key: string; value: { stringValue?: string; intValue?: string | number; boolValue?: boolean } }[];
}

let t: TestDatabase;
let boss: PgBoss;
let worker: PlatformWorker;
let sandbox: StandIns;
let telemetry: TelemetryHandle;
let receiver: Server;
const received: OtlpSpan[] = [];
let metrics: { url: string; stop(): Promise<void> };
const METRICS_TOKEN = 'test-metrics-token-0123456789';

const defs = [
  defineIntegration({
    name: 'observed',
    description: 'Reads one page of CRM contacts',
    settings: z.object({}),
    defaults: { retry: { delays: ['1s'] } },
    async execute(ctx) {
      const page = await ctx.http.getJson<{ data: unknown[] }>(`${sandbox.url}/crm/v1/contacts`, { query: { limit: 5 } });
      return { processed: page.data.length };
    },
  }),
  defineIntegration({
    name: 'observed-events',
    description: 'Receives Standard Webhooks and reads one page of CRM contacts per batch',
    settings: z.object({}),
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      async handle(_events, ctx) {
        await ctx.http.getJson(`${sandbox.url}/crm/v1/contacts`, { query: { limit: 1 } });
      },
    },
  }),
  defineIntegration({
    name: 'observed-held',
    description: 'Waits for the test (or its worker stopping) on its first start, returns at once after',
    settings: z.object({}),
    async execute(ctx) {
      if (heldOnce) return { processed: 0 };
      heldOnce = true;
      await new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      return { processed: 0 };
    },
  }),
  defineIntegration({
    name: 'observed-flaky',
    description: 'Fails its first attempt (transient), then waits an hour for the next',
    settings: z.object({}),
    defaults: { retry: { delays: ['1h'] } },
    async execute() {
      throw new TransientError('the CRM answered 503');
    },
  }),
  defineIntegration({
    name: 'observed-blocking',
    description: 'Runs until it is cancelled',
    settings: z.object({}),
    async execute(ctx) {
      await new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      return { processed: 0 };
    },
  }),
] as IntegrationDefinition[];

let heldOnce = false;
let intake: IntakeListener;
let webhookSecret: string;
let keyring: ReturnType<typeof keyringFrom>;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type']?.includes('json')) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) received.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  telemetry = startTelemetry({ serviceName: 'junction-test', endpoint: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}` });
  sandbox = await startStandIns({ port: 0, smtpPort: 0 });
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  worker = await startPlatformWorker({
    db: t.db,
    boss,
    registry: buildRegistry(defs),
    workerId: 'obs-worker',
    options: TEST_WORKER_OPTIONS,
  });
  metrics = await startMetricsServer({ port: 0, token: METRICS_TOKEN, host: '127.0.0.1' });
  const registry = buildRegistry(defs);
  keyring = keyringFrom({ key: Buffer.alloc(32, 7).toString('base64'), keyId: 'k1' });
  webhookSecret = (await addWebhookSecret(t.db, keyring, { def: registry.get('observed-events')!, label: 'first', actor: 'ada' }))
    .generated!;
  intake = await startIntakeServer({ db: t.db, boss, registry, keyring });
});
afterAll(async () => {
  await worker?.stop({ timeoutMs: 2_000 });
  await boss?.stop({ graceful: false });
  await metrics?.stop();
  await intake?.close();
  await telemetry?.shutdown();
  await sandbox?.close();
  await new Promise((resolve) => receiver.close(resolve));
  await t?.drop();
});

async function scrape(): Promise<string> {
  const res = await fetch(metrics.url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one series in Prometheus text, 0 when absent. */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/**
 * An integration's runs in flight by the help text's arithmetic: runs started minus runs finished
 * other than failed_before_start (those never started), summed over its triggers.
 */
function inFlight(text: string, integration: string): number {
  const sum = (metric: string, keep: (line: string) => boolean) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${metric}{integration="${integration}",`) && keep(l))
      .reduce((total, l) => total + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return (
    sum('junction_runs_started_total', () => true) -
    sum('junction_runs_finished_total', (l) => !l.includes('outcome="failed_before_start"'))
  );
}

const attribute = (span: OtlpSpan, key: string) => {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? v?.intValue ?? v?.boolValue;
};

async function runToEnd(correlationId: string) {
  const { runId } = await withSpan('action run_now', { attributes: { [CORRELATION_ATTRIBUTE]: correlationId } }, () =>
    runNow(t.db, boss, { integration: 'observed', triggeredBy: 'oscar', correlationId }),
  );
  await waitFor('the run to succeed', async () => {
    const [run] = await t.db.select().from(runs).where(eq(runs.id, runId));
    return run.status === 'succeeded' ? run : undefined;
  });
  return runId;
}

describe('metrics', () => {
  it('refuses a scrape without the token', async () => {
    expect((await fetch(metrics.url)).status).toBe(401);
    expect((await fetch(metrics.url, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
  });

  it('counts the run, its attempt and its outbound request, and the gauges show queued runs and breakers', async () => {
    const started = 'junction_runs_started_total{integration="observed",trigger="manual"}';
    const finished = 'junction_runs_finished_total{integration="observed",trigger="manual",outcome="succeeded"}';
    const attemptsObserved = 'junction_attempt_duration_seconds_count{integration="observed",outcome="succeeded"}';
    const outbound = 'junction_outbound_http_requests_total{integration="observed",status_class="2xx"}';
    const before = await scrape();
    await runToEnd('corr-metrics');
    const after = await scrape();
    expect(value(after, started) - value(before, started)).toBe(1);
    expect(value(after, finished) - value(before, finished)).toBe(1);
    expect(value(after, attemptsObserved) - value(before, attemptsObserved)).toBe(1);
    expect(value(after, outbound) - value(before, outbound)).toBe(1);
    expect(after).toContain('# TYPE junction_attempt_duration_seconds histogram');
    expect(after).toContain('junction_process_cpu_user_seconds_total');

    // Database-backed gauges (what the web app serves): a run queued 90 s ago, an open breaker.
    const [row] = await t.db.select().from(integrations).where(eq(integrations.name, 'observed'));
    await t.db.insert(runs).values({
      integration: row.name,
      trigger: 'api',
      triggeredBy: 'script',
      correlationId: 'corr-queued',
      maxAttempts: 2,
      createdAt: new Date(Date.now() - 90_000),
    });
    await openBreaker(t.db, { key: 'observed', by: 'oscar' });
    const gauges = await gaugeRegistry(await readQueueAndBreakerGauges(t.db)).metrics();
    expect(value(gauges, 'junction_runs_queued{integration="observed"}')).toBe(1);
    expect(value(gauges, 'junction_oldest_queued_run_age_seconds{integration="observed"}')).toBeGreaterThanOrEqual(90);
    expect(value(gauges, 'junction_breaker_state{key="observed",state="open"}')).toBe(1);
    expect(value(gauges, 'junction_breaker_state{key="observed",state="closed"}')).toBe(0);
    // No full audit verification has run here: the audit gauges are absent, not a made-up 1.
    expect(gauges).not.toContain('junction_audit_verification_ok');
    // After one that found configuration changed around the trail: 0, with the findings by kind.
    await t.db.execute(`update audit_chain_state set full_checked_at = now() - interval '90 seconds', full_ok = false,
      full_findings = '[{"kind": "config_drift", "message": "x"}, {"kind": "config_drift", "message": "y"}]'::jsonb where id = 1`);
    const audited = await gaugeRegistry(await readQueueAndBreakerGauges(t.db)).metrics();
    expect(value(audited, 'junction_audit_verification_ok')).toBe(0);
    expect(value(audited, 'junction_audit_findings{kind="config_drift"}')).toBe(2);
    expect(value(audited, 'junction_audit_findings{kind="trail"}')).toBe(0);
    expect(value(audited, 'junction_audit_verification_age_seconds')).toBeGreaterThanOrEqual(90);
    await t.db.execute(`update audit_chain_state set full_checked_at = null, full_ok = null, full_findings = '[]'::jsonb where id = 1`);
    await t.db.delete(runs).where(eq(runs.correlationId, 'corr-queued'));
    await t.db.execute(`update breakers set state = 'closed', forced_open = false, open_until = null where key = 'observed'`);
  });
  it('counts a run started once when a stopping worker hands it back and another worker starts it again', async () => {
    const started = 'junction_runs_started_total{integration="observed-held",trigger="manual"}';
    const finished = 'junction_runs_finished_total{integration="observed-held",trigger="manual",outcome="succeeded"}';
    const before = await scrape();
    const { runId } = await runNow(t.db, boss, { integration: 'observed-held', triggeredBy: 'oscar', correlationId: 'corr-held' });
    await waitFor('the first attempt to start', async () => heldOnce);
    // A restart: the stopping worker releases the run without using up its attempt.
    await worker.stop({ timeoutMs: 300 });
    worker = await startPlatformWorker({
      db: t.db,
      boss,
      registry: buildRegistry(defs),
      workerId: 'obs-worker-2',
      options: TEST_WORKER_OPTIONS,
    });
    await waitFor('the run to succeed', async () => {
      const [run] = await t.db.select().from(runs).where(eq(runs.id, runId));
      return run.status === 'succeeded';
    });
    const after = await scrape();
    expect(value(after, finished) - value(before, finished)).toBe(1);
    expect(value(after, started) - value(before, started)).toBe(1);
  });

  it('counts a run failed for too many interruptions (its workers keep dying) as finished, failed', async () => {
    const failed = 'junction_runs_finished_total{integration="observed",trigger="manual",outcome="failed"}';
    const before = await scrape();
    // Attempt 1 of a run interrupted once less than the cap, whose worker is gone (nobody holds
    // its liveness lock): this worker's liveness sweep records the interruption and fails the run.
    const [run] = await t.db
      .insert(runs)
      .values({
        integration: 'observed',
        trigger: 'manual',
        triggeredBy: 'oscar',
        correlationId: 'corr-crashing',
        status: 'running',
        attemptCount: 1,
        maxAttempts: 2,
        interruptions: DEFAULT_MAX_INTERRUPTIONS - 1,
        startedAt: new Date(),
        jobId: randomUUID(),
      })
      .returning();
    await t.db.insert(attempts).values({ runId: run.id, runCreatedAt: run.createdAt, number: 1, jobId: run.jobId, worker: 'oom-killed' });
    await waitFor('the sweep to fail the run', async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, run.id));
      return row.status === 'failed';
    });
    const after = await scrape();
    expect(value(after, failed) - value(before, failed)).toBe(1);
    // It started (its attempts ran): failed, as every started run that fails.
    const failedBeforeStart = 'junction_runs_finished_total{integration="observed",trigger="manual",outcome="failed_before_start"}';
    expect(value(after, failedBeforeStart) - value(before, failedBeforeStart)).toBe(0);
  });

  it('counts a run failed before it ever started (no handler in this worker) as finished, failed_before_start, once', async () => {
    // In the database and registered (another build has its handler), not in this worker's registry.
    await t.db
      .insert(integrations)
      .values({ name: 'observed-elsewhere', description: 'Handled by a newer build', breakerKey: 'observed-elsewhere' });
    const failed = 'junction_runs_finished_total{integration="observed-elsewhere",trigger="manual",outcome="failed"}';
    const failedBeforeStart =
      'junction_runs_finished_total{integration="observed-elsewhere",trigger="manual",outcome="failed_before_start"}';
    const before = await scrape();
    expect(inFlight(before, 'observed-elsewhere')).toBe(0);
    const { runId } = await runNow(t.db, boss, {
      integration: 'observed-elsewhere',
      triggeredBy: 'oscar',
      correlationId: 'corr-elsewhere',
    });
    const run = await waitFor('the run to fail', async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, runId));
      return row.status === 'failed' ? row : undefined;
    });
    expect(run.errorClass).toBe('HandlerMissing');
    expect(run.startedAt).toBeNull();
    const after = await scrape();
    // Never started: not counted in started, so not 'failed' (started minus finished would go
    // negative) but failed_before_start, which the in-flight arithmetic leaves out.
    expect(value(after, failedBeforeStart) - value(before, failedBeforeStart)).toBe(1);
    expect(value(after, failed) - value(before, failed)).toBe(0);
    expect(value(after, 'junction_runs_started_total{integration="observed-elsewhere",trigger="manual"}')).toBe(0);
    expect(inFlight(after, 'observed-elsewhere')).toBe(0);
    const help = after.split('\n').find((l) => l.startsWith('# HELP junction_runs_finished_total '));
    expect(help).toContain('failed_before_start');
    expect(help).toContain('junction_runs_started_total minus junction_runs_finished_total{outcome!="failed_before_start"}');
  });

  it('counts a run delivered with no attempt left as finished, failed, once', async () => {
    const failed = 'junction_runs_finished_total{integration="observed",trigger="api",outcome="failed"}';
    const before = await scrape();
    // A retrying run whose last attempt was used (its worker died between recording the attempt and failing the run).
    const jobId = randomUUID();
    const [run] = await t.db
      .insert(runs)
      .values({
        integration: 'observed',
        trigger: 'api',
        triggeredBy: 'script',
        correlationId: 'corr-exhausted',
        status: 'retrying',
        attemptCount: 2,
        maxAttempts: 2,
        startedAt: new Date(),
        jobId,
      })
      .returning();
    await sendRunJob(boss, t.db, { runId: run.id, jobId, integration: 'observed' });
    const row = await waitFor('the run to fail', async () => {
      const [r] = await t.db.select().from(runs).where(eq(runs.id, run.id));
      return r.status === 'failed' ? r : undefined;
    });
    expect(row.errorClass).toBe('AttemptsExhausted');
    const after = await scrape();
    expect(value(after, failed) - value(before, failed)).toBe(1);
    const failedBeforeStart = 'junction_runs_finished_total{integration="observed",trigger="api",outcome="failed_before_start"}';
    expect(value(after, failedBeforeStart) - value(before, failedBeforeStart)).toBe(0);
  });

  it('counts a started run cancelled while it waits for its next attempt as finished, cancelled, once', async () => {
    const started = 'junction_runs_started_total{integration="observed-flaky",trigger="manual"}';
    const cancelled = 'junction_runs_finished_total{integration="observed-flaky",trigger="manual",outcome="cancelled"}';
    const before = await scrape();
    const { runId } = await runNow(t.db, boss, { integration: 'observed-flaky', triggeredBy: 'oscar', correlationId: 'corr-flaky' });
    const waiting = await waitFor('the run to wait for its next attempt', async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, runId));
      return row.status === 'retrying' ? row : undefined;
    });
    expect(waiting.startedAt).not.toBeNull();
    const between = await scrape();
    expect(value(between, started) - value(before, started)).toBe(1);
    expect(value(between, cancelled) - value(before, cancelled)).toBe(0);

    // Cancelled from the console (the web process: here the same registry as the worker's).
    await cancelRun(t.db, boss, { runId, by: 'oscar' });
    expect(value(await scrape(), cancelled) - value(before, cancelled)).toBe(1);

    // A worker delivered a job of the run after the cancel (one fetched before it, say): it sees
    // the run ended and counts nothing more.
    const jobId = randomUUID();
    await sendRunJob(boss, t.db, { runId, jobId, integration: 'observed-flaky' });
    await waitFor('the late job to be handled', async () => {
      const rows = await t.db.execute<{ state: string }>(sql`select state from pgboss.job where id = ${jobId}`);
      return rows[0]?.state === 'completed' || rows[0]?.state === 'failed' ? true : undefined;
    });
    const after = await scrape();
    expect(value(after, cancelled) - value(before, cancelled)).toBe(1);
    expect(value(after, started) - value(before, started)).toBe(1);
  });

  it('counts a running run cancelled once, by the worker that ends its attempt, not again where it was cancelled', async () => {
    const cancelled = 'junction_runs_finished_total{integration="observed-blocking",trigger="manual",outcome="cancelled"}';
    const before = await scrape();
    const { runId } = await runNow(t.db, boss, { integration: 'observed-blocking', triggeredBy: 'oscar', correlationId: 'corr-blocking' });
    await waitFor('the run to start', async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, runId));
      return row.status === 'running' ? true : undefined;
    });
    await cancelRun(t.db, boss, { runId, by: 'oscar' });
    await waitFor('the attempt to end cancelled', async () => {
      const rows = await t.db.select().from(attempts).where(eq(attempts.runId, runId));
      return rows.length === 1 && rows[0].outcome === 'cancelled' ? true : undefined;
    });
    await waitFor('the worker to count it', async () =>
      value(await scrape(), cancelled) - value(before, cancelled) >= 1 ? true : undefined,
    );
    expect(value(await scrape(), cancelled) - value(before, cancelled)).toBe(1);
  });

  it("serves the web app's gauges marked unavailable, not an error, when the database does not answer", async () => {
    // Read: the gauges, and junction_database_gauges_up 1.
    const up = await (await databaseGauges(t.db)).metrics();
    expect(value(up, 'junction_database_gauges_up')).toBe(1);
    expect(up).toContain('junction_runs_queued{integration="observed"}');

    // Refused (nothing listens on port 1): no gauge of the database, up 0, and the reason logged.
    const down = connect('postgres://postgres@127.0.0.1:1/junction', { max: 1 });
    const logged: string[] = [];
    const error = console.error;
    console.error = (...args: unknown[]) => void logged.push(args.map(String).join(' '));
    try {
      const refused = await (await databaseGauges(down)).metrics();
      expect(refused).toContain('# TYPE junction_database_gauges_up gauge');
      expect(value(refused, 'junction_database_gauges_up')).toBe(0);
      expect(refused).not.toContain('junction_runs_queued');
      expect(refused).not.toContain('junction_breaker_state');

      // Accepted and never answered (a host gone from the network): given up on in time.
      const silent = createServer();
      silent.on('connection', () => {});
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const hung = connect(`postgres://postgres@127.0.0.1:${(silent.address() as AddressInfo).port}/junction`, { max: 1 });
      const started = Date.now();
      try {
        const late = await (await databaseGauges(hung, { timeoutMs: 300 })).metrics();
        expect(value(late, 'junction_database_gauges_up')).toBe(0);
        expect(Date.now() - started).toBeLessThan(2_000);
      } finally {
        void hung.$client.end({ timeout: 0 });
        silent.closeAllConnections();
        await new Promise((resolve) => silent.close(resolve));
      }
    } finally {
      console.error = error;
      await disconnect(down);
    }
    expect(logged.join('\n')).toMatch(/\[metrics\] the database-backed gauges are left out of this scrape: .*ECONNREFUSED/);
    expect(logged.join('\n')).toMatch(/did not answer within 300 ms/);
  });

  it('cancels a gauge query the database is slow to answer on the server, freeing its connection', async () => {
    // Another session holds the runs table: the gauge query waits for its lock, as it would
    // behind a long migration or a slow disk.
    const holder = connect(t.url, { max: 1 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const holding = holder.$client.begin(async (tx) => {
      await tx`lock table runs in access exclusive mode`;
      locked();
      await released;
    });
    const pool = connect(t.url, { max: 1 });
    const stillRunning = async () => {
      const rows = await t.db.execute<{ n: number }>(sql`
        select count(*)::int as n from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid() and state = 'active' and query like '%as oldest_age%'`);
      return rows[0].n;
    };
    const logged: string[] = [];
    const error = console.error;
    console.error = (...args: unknown[]) => void logged.push(args.map(String).join(' '));
    try {
      await lockTaken;
      const began = Date.now();
      const scraped = await (await databaseGauges(pool, { timeoutMs: 500 })).metrics();
      expect(value(scraped, 'junction_database_gauges_up')).toBe(0);
      expect(Date.now() - began).toBeLessThan(2_000);
      // PostgreSQL itself ended the query at the same timeout: no backend still runs it.
      await waitFor('the gauge query to be cancelled on the server', async () => (await stillRunning()) === 0, 1_500, 50);
      // And the pooled connection is free for the next query, the lock still held.
      expect((await pool.execute<{ one: number }>(sql`select 1 as one`))[0].one).toBe(1);
    } finally {
      console.error = error;
      release();
      await holding;
      await disconnect(holder);
      await disconnect(pool);
    }
    expect(logged.join('\n')).toMatch(/\[metrics\] the database-backed gauges are left out of this scrape/);
  });

  it('counts a webhook delivery answered 503 (the database is down) as failed, as it counts every answer but 404', async () => {
    const series = 'junction_webhook_events_total{integration="observed-events",outcome="failed"}';
    const before = await scrape();
    // The intake of a process whose database is unreachable (nothing listens on port 1).
    const down = connect('postgres://postgres@127.0.0.1:1/junction', { max: 1 });
    const cut = await startIntakeServer({ db: down, boss, registry: buildRegistry(defs), keyring });
    try {
      const body = JSON.stringify({ type: 'thing.created' });
      const at = new Date();
      const res = await fetch(`${cut.url}/hooks/observed-events`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'webhook-id': 'evt-outage',
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': new Webhook(webhookSecret).sign('evt-outage', at, body),
        },
      });
      expect(res.status).toBe(503);
    } finally {
      await cut.close();
      await disconnect(down);
    }
    expect(value(await scrape(), series) - value(before, series)).toBe(1);
  });
});

describe('traces', () => {
  it('exports one trace per run over OTLP: action → run.create → attempt → HTTP GET, with the correlation id, and sends its traceparent out', async () => {
    const correlationId = 'corr-trace';
    const runId = await runToEnd(correlationId);
    await telemetry.flush();
    const spans = await waitFor('the spans to arrive', async () => {
      const ours = received.filter((s) => attribute(s, CORRELATION_ATTRIBUTE) === correlationId);
      return ours.some((s) => s.name === 'HTTP GET') && ours.some((s) => s.name === 'attempt') ? ours : undefined;
    });
    const byName = (name: string) => spans.filter((s) => s.name === name);
    const [action] = byName('action run_now');
    const [create] = byName('run.create');
    const [attempt] = byName('attempt');
    const [http] = byName('HTTP GET');
    expect([action, create, attempt, http].every(Boolean)).toBe(true);
    expect(new Set([action, create, attempt, http].map((s) => s.traceId)).size).toBe(1);
    expect(action.parentSpanId ?? '').toBe('');
    expect(create.parentSpanId).toBe(action.spanId);
    expect(attempt.parentSpanId).toBe(create.spanId);
    expect(http.parentSpanId).toBe(attempt.spanId);
    expect(attribute(create, 'junction.run_id')).toBe(runId);
    expect(attribute(attempt, 'junction.outcome')).toBe('succeeded');
    expect(attribute(http, 'http.response.status_code')).toBe(200);

    // The external system received the HTTP span's context beside the correlation id.
    const [request] = sandbox.state.requests.recent({ correlationId });
    expect(request).toMatchObject({ system: 'crm', path: '/crm/v1/contacts' });
    expect(request.traceparent).toBe(`00-${http.traceId}-${http.spanId}-01`);
  });

  it("continues the sender's trace of a webhook delivery: its traceparent is the parent of the run's spans", async () => {
    const senderTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const senderSpan = '00f067aa0ba902b7';
    const body = JSON.stringify({ type: 'thing.created' });
    const at = new Date();
    const res = await fetch(`${intake.url}/hooks/observed-events`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'evt-traced',
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': new Webhook(webhookSecret).sign('evt-traced', at, body),
        traceparent: `00-${senderTrace}-${senderSpan}-01`,
      },
    });
    expect(res.status).toBe(200);
    const run = await waitFor('the event run to succeed', async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.integration, 'observed-events'));
      return row?.status === 'succeeded' ? row : undefined;
    });
    await telemetry.flush();
    const spans = await waitFor('the spans to arrive', async () => {
      const ours = received.filter((s) => s.name === 'webhook.receive' || attribute(s, CORRELATION_ATTRIBUTE) === run.correlationId);
      return ours.some((s) => s.name === 'attempt') && ours.some((s) => s.name === 'HTTP GET') ? ours : undefined;
    });
    // Its webhook.receive span (other tests deliver too) continues the sender's span.
    const receive = spans.filter((s) => s.name === 'webhook.receive').find((s) => s.parentSpanId === senderSpan);
    expect(receive?.traceId).toBe(senderTrace);
    const [attempt] = spans.filter((s) => s.name === 'attempt');
    expect(attempt.traceId).toBe(senderTrace);
    // The CRM stand-in received the attempt's outbound span beside the run's correlation id.
    const [request] = sandbox.state.requests.recent({ correlationId: run.correlationId });
    expect(request.traceparent).toMatch(new RegExp(`^00-${senderTrace}-`));
  });

  it("links the run's attempt to the trace of each delivery whose event joined the queued run", async () => {
    const first = { trace: '5bf92f3577b34da6a3ce929d0e0e4736', span: '10f067aa0ba902b7' };
    const joining = { trace: '6bf92f3577b34da6a3ce929d0e0e4736', span: '20f067aa0ba902b7' };
    const deliver = async (id: string, sender: { trace: string; span: string }) => {
      const body = JSON.stringify({ type: 'thing.created' });
      const at = new Date();
      const res = await fetch(`${intake.url}/hooks/observed-events`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': new Webhook(webhookSecret).sign(id, at, body),
          traceparent: `00-${sender.trace}-${sender.span}-01`,
        },
      });
      expect(res.status).toBe(200);
    };
    // No worker while both arrive: the first creates the event run, the second joins it, queued.
    await worker.stop({ timeoutMs: 2_000 });
    await deliver('evt-first', first);
    await deliver('evt-joining', joining);
    const stored = await t.db
      .select()
      .from(webhookEvents)
      .where(inArray(webhookEvents.eventId, ['evt-first', 'evt-joining']))
      .orderBy(webhookEvents.id);
    expect(stored.map((e) => e.traceParent)).toEqual([
      expect.stringMatching(`^00-${first.trace}-`),
      expect.stringMatching(`^00-${joining.trace}-`),
    ]);
    worker = await startPlatformWorker({
      db: t.db,
      boss,
      registry: buildRegistry(defs),
      workerId: 'obs-worker-3',
      options: TEST_WORKER_OPTIONS,
    });
    const applied = await waitFor('both events to be applied', async () => {
      const rows = await t.db
        .select()
        .from(webhookEvents)
        .where(inArray(webhookEvents.eventId, ['evt-first', 'evt-joining']));
      return rows.every((r) => r.status === 'processed') ? rows : undefined;
    });
    expect(new Set(applied.map((r) => r.runId)).size).toBe(1);
    const [run] = await t.db.select().from(runs).where(eq(runs.id, applied[0].runId!));
    await telemetry.flush();
    const spans = await waitFor('the spans to arrive', async () => {
      const ours = received.filter((s) => attribute(s, CORRELATION_ATTRIBUTE) === run.correlationId || s.name === 'webhook.receive');
      return ours.some((s) => s.name === 'attempt' && attribute(s, CORRELATION_ATTRIBUTE) === run.correlationId) ? ours : undefined;
    });
    const receiveOf = (sender: { span: string }) => spans.find((s) => s.name === 'webhook.receive' && s.parentSpanId === sender.span)!;
    const [attempt] = spans.filter((s) => s.name === 'attempt' && attribute(s, CORRELATION_ATTRIBUTE) === run.correlationId);
    // The run continues the first delivery's trace, and links the joining delivery's receive span.
    expect(attempt.traceId).toBe(first.trace);
    expect(attempt.links?.map((l) => [l.traceId, l.spanId])).toEqual([[joining.trace, receiveOf(joining).spanId]]);
    expect(attempt.links?.[0].attributes?.find((a) => a.key === 'junction.event_id')?.value.stringValue).toBe('evt-joining');
  });

  it("sends the OAuth2 token request of an attempt with the attempt's trace and correlation id, as its own client span", async () => {
    const correlationId = 'corr-token';
    const oauth2 = oauth2Provider(parseOAuth2Config({ tokenUrl: `${sandbox.url}/oauth/token`, scope: 'observed', ...DEFAULT_CLIENT }));
    await withSpan('attempt', { attributes: { [CORRELATION_ATTRIBUTE]: correlationId } }, () =>
      createHttpClient({ correlationId, integration: 'observed', oauth2 }).getJson(`${sandbox.url}/accounting/v1/journal-entries?limit=1`),
    );
    await telemetry.flush();
    const spans = await waitFor('the spans to arrive', async () => {
      const ours = received.filter((s) => attribute(s, CORRELATION_ATTRIBUTE) === correlationId);
      return ours.some((s) => s.name === 'attempt') && ours.some((s) => s.name === 'HTTP GET') ? ours : undefined;
    });
    const [attempt] = spans.filter((s) => s.name === 'attempt');
    const [token] = spans.filter((s) => s.name === 'HTTP POST');
    expect(token).toMatchObject({ traceId: attempt.traceId, parentSpanId: attempt.spanId });
    const sent = sandbox.state.requests.recent({ correlationId });
    expect(sent.map((r) => [r.system, r.method])).toEqual(
      expect.arrayContaining([
        ['oauth', 'POST'],
        ['accounting', 'GET'],
      ]),
    );
    const tokenRequest = sent.find((r) => r.system === 'oauth')!;
    expect(tokenRequest.traceparent).toBe(`00-${token.traceId}-${token.spanId}-01`);
  });
});
