import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import { and, desc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { generateHostData } from '../db/host-data';
import { alertDeliveries, alerts, incidents, integrations, webhookEvents, type Run } from '../db/schema';
import { integrations as shippedIntegrations } from '../lib/integrations';
import { sendTestAlert, startAlerting } from '../lib/platform/alerts';
import { createChannel } from '../lib/platform/alerts/channels';
import { defineIntegration, type IntegrationDefinition } from '../lib/platform/contract';
import { PermanentError } from '../lib/platform/errors';
import { startPlatformWorker, type PlatformWorker } from '../lib/platform/execution/worker';
import { createSecretsProvider, writeSecrets } from '../lib/platform/governance/secrets';
import { compileStoredMapping } from '../lib/platform/mapping';
import { startTelemetry, type TelemetryHandle } from '../lib/platform/observability/telemetry';
import { getRunDetail } from '../lib/platform/read-models/run-queries';
import { buildRegistry, syncRegistry } from '../lib/platform/registry';
import { runNow } from '../lib/platform/triggers/triggers';
import { DEMO_CREDENTIALS } from '../sandbox/demo-credentials';
import { TEST_WORKER_OPTIONS, waitFor } from './fixtures/platform';
import { configure, keyring, SHIPPED_QUEUE_OPTIONS, startHarness, waitForRun, type Harness } from './fixtures/shipped-integrations';

/**
 * Secrets an external system echoes back must not be recorded anywhere. The sandbox stand-ins are
 * told (fault `echoCredentials`, a catcher failure with `echo`) to answer with error bodies that
 * repeat the credentials they received, over real HTTP, to a real worker on real PostgreSQL with
 * alerting delivering to a Slack catcher: the token endpoint repeats the client secret, the
 * accounting API the OAuth2 bearer token obtained at run time, the CRM the X-Api-Key, an API the
 * key in its query string (and a connection failure names the URL with it), and the Slack receiver
 * its webhook URL. Afterwards no secret may be found in any table of the database (sealed values
 * are ciphertext), the runs' API answers, the Slack messages, the spans or the process's console;
 * the run errors still say what failed, with the secret replaced by [redacted].
 */

const CLIENT_SECRET = 'cs-Echo+7/Q x&z-91';
const CRM_KEY = 'ak-Echo+crm/55 key';
const QUERY_KEY = 'qk-Echo+query/33=';
const SLACK_TOKEN = 'T0ECHO42-B0ECHO77-slackEchoToken9q';
/** What the token endpoint issues (sandbox/oauth-server.ts): `sbx_` and 32 base64url characters. */
const ACCESS_TOKEN = /sbx_[A-Za-z0-9_-]{32}/;

/** Every form a secret may take in an echo: as is, percent-encoded, form-encoded, JSON-escaped. */
function forms(secret: string): string[] {
  return [
    ...new Set([
      secret,
      encodeURIComponent(secret),
      new URLSearchParams({ v: secret }).toString().slice(2),
      JSON.stringify(secret).slice(1, -1),
    ]),
  ];
}
const SECRETS = [CLIENT_SECRET, CRM_KEY, QUERY_KEY, SLACK_TOKEN];

/** Reads a ledger with the API key in the query string (as some APIs want it), short timeouts. */
const ledgerLookup = defineIntegration({
  name: 'ledger-lookup',
  description: 'Reads the CRM with its key in the query string',
  settings: z.object({ baseUrl: z.string() }),
  secrets: ['apiKey'],
  breakerKey: 'ledger-api',
  defaults: { retry: { delays: ['100ms'] }, breaker: { failures: 100, cooldown: '1s' } },
  async execute(ctx) {
    await ctx.http.getJson(`${ctx.settings.baseUrl}/v1/contacts`, { query: { api_key: ctx.secrets.apiKey, limit: 1 }, timeoutMs: 2_000 });
    return { processed: 1 };
  },
}) as IntegrationDefinition;

/** Receives pushed events and looks each one up in the CRM with its key: a refusal fails the event. */
const contactEvents = defineIntegration({
  name: 'contact-events',
  description: 'Applies pushed contact events after a CRM lookup',
  settings: z.object({ baseUrl: z.string() }),
  secrets: ['apiKey'],
  breakerKey: 'contact-events-crm',
  defaults: { retry: { delays: ['100ms'] }, breaker: { failures: 100, cooldown: '1s' } },
  events: {
    scheme: 'standard-webhooks',
    typeFrom: (d) => (d.body as { type?: string }).type,
    async handle(events, ctx) {
      for (const event of events) {
        const res = await ctx.http.get(`${ctx.settings.baseUrl}/v1/contacts/${event.id}`, {
          headers: { 'x-api-key': ctx.secrets.apiKey! },
          throwOnError: false,
        });
        // The handler reads the refusal itself and says what the CRM answered: the platform's HTTP
        // errors are not involved, only what the platform records of the handler's error.
        if (!res.ok) throw new PermanentError(`the CRM refused contact ${event.id}: ${await res.text()}`);
      }
    },
  },
}) as IntegrationDefinition;

/** Checks its key against the CRM and, refused, logs and throws what the CRM answered (its own error, not ctx.http's). */
const contactCheck = defineIntegration({
  name: 'contact-check',
  description: 'Checks its CRM key',
  settings: z.object({ baseUrl: z.string() }),
  secrets: ['apiKey'],
  breakerKey: 'contact-check-crm',
  defaults: { retry: { delays: ['100ms'] }, breaker: { failures: 100, cooldown: '1s' } },
  async execute(ctx) {
    const res = await ctx.http.get(`${ctx.settings.baseUrl}/v1/contacts`, {
      query: { limit: 1 },
      headers: { 'x-api-key': ctx.secrets.apiKey! },
      throwOnError: false,
    });
    const text = await res.text();
    if (!res.ok) {
      ctx.log.warn(`the CRM answered ${res.status}: ${text}`, { status: res.status, body: text });
      throw new PermanentError(`the CRM refused the key: ${text}`);
    }
    return { processed: 1 };
  },
}) as IntegrationDefinition;

/** Reports what it used in its summary, key included: a handler's own mistake the run record must not keep. */
const keyReport = defineIntegration({
  name: 'key-report',
  description: 'Says in its summary which key it used',
  settings: z.object({}),
  secrets: ['apiKey'],
  async execute(ctx) {
    const key = ctx.secrets.apiKey!;
    return { processed: 1, usedKey: key, lookups: [`https://crm.example/v1/contacts?api_key=${encodeURIComponent(key)}`], [key]: true };
  },
}) as IntegrationDefinition;

const registry = buildRegistry([...shippedIntegrations, ledgerLookup, contactEvents, contactCheck, keyReport]);

let h: Harness;
let worker: PlatformWorker;
let alerting: { stop(): Promise<void> };
let telemetry: TelemetryHandle;
const spans: ReadableSpan[] = [];
const consoleLines: string[] = [];
const failedRuns: string[] = [];

const collector: SpanProcessor = {
  onStart: () => {},
  onEnd: (span) => void spans.push(span),
  forceFlush: async () => {},
  shutdown: async () => {},
};

beforeAll(async () => {
  for (const level of ['log', 'info', 'warn', 'error'] as const) {
    const original = console[level].bind(console);
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      consoleLines.push(args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : String(a))).join(' '));
      original(...args);
    });
  }
  telemetry = startTelemetry({ serviceName: 'secret-echo-test', processors: [collector] });
  h = await startHarness();
  await generateHostData(h.db, { customers: 3, invoices: 6, seed: 5 });
  await syncRegistry(h.db, { registry });
  await h.db.update(integrations).set({ schedule: null });
  for (const name of ['accounting-export', 'crm-sync', 'ledger-lookup', 'contact-events', 'contact-check'])
    await configure(h.db, name, { retryDelays: ['100ms'], breakerFailures: 100, breakerCooldown: '1s' });
  await configure(h.db, 'ledger-lookup', { settings: { baseUrl: `${h.sandbox.url}/crm` } });
  await configure(h.db, 'contact-events', { settings: { baseUrl: `${h.sandbox.url}/crm` } });
  await writeSecrets(h.db, { integration: 'contact-events', values: { apiKey: CRM_KEY }, actor: 'test-setup', keyring });
  await configure(h.db, 'contact-check', { settings: { baseUrl: `${h.sandbox.url}/crm` } });
  await writeSecrets(h.db, { integration: 'contact-check', values: { apiKey: CRM_KEY }, actor: 'test-setup', keyring });
  await writeSecrets(h.db, { integration: 'crm-sync', values: { apiKey: CRM_KEY }, actor: 'test-setup', keyring });
  await writeSecrets(h.db, { integration: 'ledger-lookup', values: { apiKey: QUERY_KEY }, actor: 'test-setup', keyring });
  await writeSecrets(h.db, { integration: 'key-report', values: { apiKey: CRM_KEY }, actor: 'test-setup', keyring });
  const slack = await createChannel(h.db, {
    input: { name: 'team-slack', type: 'slack', url: `${h.sandbox.url}/catcher/slack/${SLACK_TOKEN}` },
    actor: 'admin@example.com',
    keyring,
  });
  if (!slack.ok) throw new Error(slack.message);
  alerting = await startAlerting({
    db: h.db,
    boss: h.boss,
    keyring,
    appUrl: 'http://localhost:3000',
    deliveryRetry: { limit: 1, delaySeconds: 1, backoff: false },
    pollingIntervalSeconds: 0.5,
    sendTimeoutMs: 3_000,
  });
  worker = await startPlatformWorker({
    db: h.db,
    boss: h.boss,
    registry,
    workerId: 'echo-worker',
    secrets: createSecretsProvider(h.db, keyring),
    mapper: compileStoredMapping,
    options: { ...TEST_WORKER_OPTIONS, queue: SHIPPED_QUEUE_OPTIONS, syncRegistry: false },
  });
});
afterAll(async () => {
  await worker?.stop({ timeoutMs: 2_000 });
  await alerting?.stop();
  await telemetry?.shutdown();
  await h?.close();
  vi.restoreAllMocks();
});

async function failedRun(integration: string): Promise<Run> {
  const { runId } = await runNow(h.db, h.boss, { integration, triggeredBy: 'ada@example.com' });
  failedRuns.push(runId);
  return waitForRun(h.db, runId, ['failed']);
}

async function attemptErrors(runId: string): Promise<string[]> {
  const rows = await h.db.execute<{ error_message: string | null }>(
    sql`select error_message from attempts where run_id = ${runId} order by number`,
  );
  return rows.map((r) => r.error_message ?? '');
}

/** The run's log lines, each with its data (as JSON) when it has some. */
async function logLines(runId: string): Promise<string[]> {
  const rows = await h.db.execute<{ message: string; data: unknown }>(
    sql`select l.message, l.data from attempt_logs l join attempts a on a.id = l.attempt_id where a.run_id = ${runId} order by l.id`,
  );
  return rows.map((r) => (r.data === null ? r.message : `${r.message} ${JSON.stringify(r.data)}`));
}

/** The alert raised for a failed run, delivered to the Slack catcher: its stored body and what Slack received. */
async function slackAlertFor(runId: string): Promise<{ stored: string; slack: string }> {
  const alert = await waitFor(`the alert of run ${runId} delivered`, async () => {
    const [incident] = await h.db.select().from(incidents).where(eq(incidents.runId, runId));
    if (!incident) return undefined;
    const [row] = await h.db.select().from(alerts).where(eq(alerts.incidentId, incident.id)).orderBy(desc(alerts.createdAt));
    return row && row.status === 'delivered' ? row : undefined;
  });
  const res = await fetch(`${h.sandbox.url}/catcher/messages?name=${SLACK_TOKEN}`);
  const { data } = (await res.json()) as { data: { body: string }[] };
  const slack = data.map((m) => m.body).find((b) => b.includes(runId)) ?? '';
  return { stored: JSON.stringify(alert.body), slack };
}

function expectNoSecret(where: string, text: string) {
  for (const secret of SECRETS) for (const form of forms(secret)) expect.soft(text.includes(form), `${where} holds '${form}'`).toBe(false);
  expect.soft(ACCESS_TOKEN.exec(text)?.[0], `${where} holds an access token`).toBeUndefined();
}

/** A port nothing listens on: one the system just gave out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function clearFaults() {
  await fetch(`${h.sandbox.url}/_admin/faults`, { method: 'DELETE' });
}
async function echo(system: 'oauth' | 'accounting' | 'crm', status: number) {
  const res = await fetch(`${h.sandbox.url}/_admin/faults/${system}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ echoCredentials: { status } }),
  });
  expect(res.status).toBe(200);
}

describe('secrets echoed back by external systems', () => {
  it('a token endpoint that repeats the client secret: the run fails saying so, the secret redacted everywhere', async () => {
    await writeSecrets(h.db, {
      integration: 'accounting-export',
      values: { clientSecret: CLIENT_SECRET },
      actor: 'test-setup',
      keyring,
    });
    await echo('oauth', 401);
    const run = await failedRun('accounting-export');
    await clearFaults();
    expect.soft(run.errorClass).toBe('CredentialsError');
    expect.soft(run.errorMessage).toContain(`OAuth2 token request to ${h.sandbox.url}/oauth/token was refused (401 invalid_client: `);
    expect
      .soft(run.errorMessage)
      .toContain("Client authentication failed for client_id 'accounting-export' with client_secret '[redacted]'");
    expect.soft(run.errorMessage).toContain('client_secret=[redacted]');
    expect.soft(run.errorMessage).toContain("Check the client id, client secret, scope and audience in the integration's credentials.");
    expectNoSecret('run error', run.errorMessage!);
    const attempts = await attemptErrors(run.id);
    expect.soft(attempts).toEqual([run.errorMessage]);
    const lines = await logLines(run.id);
    expect.soft(lines.at(-1)).toBe(`attempt 1 failed: ${run.errorMessage} {"errorClass":"CredentialsError"}`);
    expectNoSecret('attempt log', lines.join('\n'));
    const [row] = await h.db.select().from(integrations).where(eq(integrations.name, 'accounting-export'));
    expect.soft(row.credentialsError).toContain("client_secret '[redacted]'");
    // The token request's failure opens the credentials incident on its own, before the run fails.
    const credentials = await waitFor('the credentials incident', async () => {
      const [incident] = await h.db
        .select()
        .from(incidents)
        .where(and(eq(incidents.integration, 'accounting-export'), eq(incidents.kind, 'credentials')));
      return incident;
    });
    expect.soft(credentials.lastError).toContain("client_secret '[redacted]'");
    expectNoSecret('credentials incident', credentials.lastError ?? '');
    const alert = await slackAlertFor(run.id);
    expect.soft(alert.slack).toContain('[redacted]');
    expectNoSecret('alert', alert.stored);
    expectNoSecret('Slack message', alert.slack);
    expectNoSecret('run API answer', JSON.stringify(await getRunDetail(h.db, { id: run.id })));
  });

  it('an API that repeats the bearer token obtained at run time, in a 5xx and in a 401: redacted in errors, retries and logs', async () => {
    await writeSecrets(h.db, {
      integration: 'accounting-export',
      values: DEMO_CREDENTIALS['accounting-export'],
      actor: 'test-setup',
      keyring,
    });
    await echo('accounting', 503);
    const transient = await failedRun('accounting-export');
    await clearFaults();
    expect.soft(transient.attemptCount).toBe(2);
    expect
      .soft(transient.errorMessage)
      .toMatch(
        /^POST http:\/\/127\.0\.0\.1:\d+\/accounting\/v1\/journal-entries answered 503: \{"error":"request_refused","message":"Refused POST \/accounting\/v1\/journal-entries \(Authorization: Bearer \[redacted\]; X-Api-Key: none; body: /,
      );
    const lines = await logLines(transient.id);
    expect.soft(lines.filter((l) => l.startsWith('retrying POST ')).length).toBeGreaterThanOrEqual(2);
    expectNoSecret('attempt log', lines.join('\n'));
    for (const error of await attemptErrors(transient.id)) expectNoSecret('attempt error', error);
    // The open run_failed incident takes the failure (no second alert): its last error is this run's.
    const incident = await waitFor('the incident to take the failure', async () => {
      const [row] = await h.db
        .select()
        .from(incidents)
        .where(and(eq(incidents.integration, 'accounting-export'), eq(incidents.kind, 'run_failed')));
      return row?.lastError?.includes('/journal-entries answered 503: ') ? row : undefined;
    });
    expect.soft(incident.lastError).toContain('Bearer [redacted]');

    await echo('accounting', 401);
    const refused = await failedRun('accounting-export');
    await clearFaults();
    expect.soft(refused.errorMessage).toContain('answered 401: ');
    expect.soft(refused.errorMessage).toContain('(Authorization: Bearer [redacted]; ');
    const refusedLines = await logLines(refused.id);
    expect.soft(refusedLines.some((l) => l.includes('answered 401: fetching a new OAuth2 token and trying once more'))).toBe(true);
    expectNoSecret('attempt log', refusedLines.join('\n'));
    expectNoSecret('run API answer', JSON.stringify(await getRunDetail(h.db, { id: refused.id })));
  });

  it('an API that repeats the X-Api-Key header: the run error keeps the rest', async () => {
    await echo('crm', 403);
    const run = await failedRun('crm-sync');
    await clearFaults();
    expect
      .soft(run.errorMessage)
      .toMatch(
        /^GET http:\/\/127\.0\.0\.1:\d+\/crm\/v1\/contacts\?limit=100 answered 403: \{"error":"request_refused","message":"Refused GET \/crm\/v1\/contacts\?limit=100 \(Authorization: none; X-Api-Key: \[redacted\]; body: \)"\}$/,
      );
    expectNoSecret('attempt log', (await logLines(run.id)).join('\n'));
    expectNoSecret('run API answer', JSON.stringify(await getRunDetail(h.db, { id: run.id })));
  });

  it('a handler that logs and throws what the API answered: its log line, its data and the run error are redacted', async () => {
    await echo('crm', 401);
    const run = await failedRun('contact-check');
    await clearFaults();
    const refusal =
      '{"error":"request_refused","message":"Refused GET /crm/v1/contacts?limit=1 (Authorization: none; X-Api-Key: [redacted]; body: )"}';
    expect.soft(run.errorClass).toBe('PermanentError');
    expect.soft(run.errorMessage).toBe(`the CRM refused the key: ${refusal}`);
    const lines = await logLines(run.id);
    expect.soft(lines).toContain(`the CRM answered 401: ${refusal} ${JSON.stringify({ body: refusal, status: 401 })}`);
    expectNoSecret('attempt log', lines.join('\n'));
    expectNoSecret('Slack message', (await slackAlertFor(run.id)).slack);
  });

  it('an API that repeats the key while a pushed event is applied: the event fails with its reason redacted', async () => {
    await h.db
      .insert(webhookEvents)
      .values({ integration: 'contact-events', eventId: 'evt-echo-1', eventType: 'contact.changed', payload: {} });
    await echo('crm', 403);
    const { runId } = await runNow(h.db, h.boss, { integration: 'contact-events', triggeredBy: 'ada@example.com' });
    failedRuns.push(runId);
    await waitForRun(h.db, runId, ['succeeded']);
    await clearFaults();
    const [event] = await h.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, 'evt-echo-1'));
    expect.soft(event.status).toBe('failed');
    expect
      .soft(event.outcome)
      .toMatch(/^refused by the handler: the CRM refused contact evt-echo-1: \{"error":"request_refused",.*X-Api-Key: \[redacted\]; /);
    expectNoSecret('event outcome', event.outcome ?? '');
    expectNoSecret('attempt log', (await logLines(runId)).join('\n'));
  });

  it('a key in the query string: redacted in the URL of an HTTP error, of a connection failure, the breaker and the spans', async () => {
    await echo('crm', 500);
    const answered = await failedRun('ledger-lookup');
    await clearFaults();
    expect
      .soft(answered.errorMessage)
      .toMatch(
        /^GET http:\/\/127\.0\.0\.1:\d+\/crm\/v1\/contacts\?api_key=\[redacted\]&limit=1 answered 500: \{"error":"request_refused","message":"Refused GET \/crm\/v1\/contacts\?api_key=\[redacted\]&limit=1 /,
      );
    expectNoSecret('attempt log', (await logLines(answered.id)).join('\n'));

    const closed = await closedPort();
    await configure(h.db, 'ledger-lookup', { settings: { baseUrl: `http://127.0.0.1:${closed}/crm` } });
    const unreachable = await failedRun('ledger-lookup');
    expect.soft(unreachable.errorClass).toBe('NetworkError');
    expect
      .soft(unreachable.errorMessage)
      .toBe(`GET http://127.0.0.1:${closed}/crm/v1/contacts?api_key=[redacted]&limit=1 failed: ECONNREFUSED`);
    expectNoSecret('attempt log', (await logLines(unreachable.id)).join('\n'));
    const breaker = await h.db.execute<{ last_error: string | null }>(sql`select last_error from breakers where key = 'ledger-api'`);
    expect.soft(breaker[0].last_error).toContain('api_key=[redacted]');
  });

  it('a Slack receiver that repeats its webhook URL: the delivery error names the receiver’s answer without it', async () => {
    await fetch(`${h.sandbox.url}/_admin/catcher/${SLACK_TOKEN}/fail`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: 10, status: 404, echo: true }),
    });
    const [channel] = await h.db.execute<{ id: string }>(sql`select id from alert_channels where name = 'team-slack'`);
    const { alertId } = await sendTestAlert(h.db, h.boss, { channelId: channel.id, actor: 'ada@example.com' });
    const deliveries = await waitFor('the test alert to be given up', async () => {
      const rows = await h.db.select().from(alertDeliveries).where(eq(alertDeliveries.alertId, alertId));
      return rows.some((r) => r.final) ? rows : undefined;
    });
    await fetch(`${h.sandbox.url}/_admin/catcher/${SLACK_TOKEN}/fail`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: 0 }),
    });
    for (const d of deliveries) {
      expect.soft(d.error).toMatch(/^receiver answered HTTP 404 Not Found: catcher '\[redacted\]' was told to fail \(404\)/);
      expect.soft(d.error).toContain('(request: POST [redacted])');
    }
  });

  it('a handler that puts its key in its summary: the run succeeds, its result keeps the rest', async () => {
    const { runId } = await runNow(h.db, h.boss, { integration: 'key-report', triggeredBy: 'ada@example.com' });
    failedRuns.push(runId);
    const run = await waitForRun(h.db, runId, ['succeeded']);
    expect(run.result).toEqual({
      processed: 1,
      usedKey: '[redacted]',
      lookups: ['https://crm.example/v1/contacts?api_key=[redacted]'],
      '[redacted]': true,
    });
  });

  it('leaves no secret in any table, runs answer, span or console line', async () => {
    // Every place found, not only the first: one failure names them all.
    const leaks = new Set<string>();
    const check = (where: string, text: string) => {
      for (const secret of SECRETS) for (const form of forms(secret)) if (text.includes(form)) leaks.add(`${where}: '${form}'`);
      const token = ACCESS_TOKEN.exec(text)?.[0];
      if (token) leaks.add(`${where}: access token`);
    };
    const tables = await h.db.execute<{ schema: string; name: string }>(sql`
      select table_schema as schema, table_name as name from information_schema.tables
       where table_schema in ('public', 'pgboss') and table_type = 'BASE TABLE'`);
    let rows = 0;
    for (const t of tables) {
      const dump = await h.db.execute<{ row: string }>(
        sql`select row_to_json(x)::text as row from ${sql.identifier(t.schema)}.${sql.identifier(t.name)} x`,
      );
      rows += dump.length;
      check(`${t.schema}.${t.name}`, dump.map((r) => r.row).join('\n'));
    }
    expect(rows).toBeGreaterThan(100);
    for (const id of failedRuns) check(`run API answer`, JSON.stringify(await getRunDetail(h.db, { id })));
    const messages = (await (await fetch(`${h.sandbox.url}/catcher/messages`)).json()) as { data: { body: string }[] };
    expect(messages.data.length).toBeGreaterThanOrEqual(3);
    check('Slack messages', messages.data.map((m) => m.body).join('\n'));
    await telemetry.flush();
    const spanText = spans
      .map((s) => JSON.stringify({ name: s.name, attributes: s.attributes, status: s.status, events: s.events }))
      .join('\n');
    check('spans', spanText);
    check('console', consoleLines.join('\n'));
    expect([...leaks]).toEqual([]);
    // The connection failure is recorded on its HTTP span, with the URL as the run error shows it.
    expect(spanText).toContain('api_key=[redacted]&limit=1 failed: ECONNREFUSED');
  });
});
