import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { and, asc, eq, isNull } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertDeliveries, alerts, auditLog, incidents, integrations } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startTestBoss } from '../../../test/fixtures/platform';
import { waitFor } from '../../../test/fixtures/wait';
import { emitPlatformEvent, PLATFORM_EVENTS_QUEUE, type PlatformEvent } from '../execution/events';
import { keyringFrom } from '../governance/crypto';
import { sendTestAlert, startAlerting } from './alerting';
import { createChannel } from './channels';
import { alertHistory } from './history';
import type { AlertMessage } from './messages';
import { decodeQuotedPrintable, startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from './test-receivers';

/**
 * Alerting end to end: real pg-boss (events in, one delivery job per alert and channel), real
 * HTTP and SMTP receivers. Each test routes its integration to its own channels, so the tests
 * do not see each other's alerts.
 */

const APP_URL = 'http://localhost:3000';
const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k1' });

let t: TestDatabase;
let boss: PgBoss;
let http: HttpReceiver;
let smtp: SmtpReceiver;
let alerting: { stop(): Promise<void> };

beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  http = await startHttpReceiver();
  smtp = await startSmtpReceiver({ user: 'alerts', password: 'smtp-password-77' });
  alerting = await startAlerting({
    db: t.db,
    boss,
    keyring,
    appUrl: APP_URL,
    deliveryRetry: { limit: 2, delaySeconds: 1, backoff: false },
    pollingIntervalSeconds: 0.5,
    sendTimeoutMs: 3_000,
    log: () => {},
  });
});
afterAll(async () => {
  await alerting?.stop();
  await boss?.stop({ graceful: false });
  await http?.close();
  await smtp?.close();
  await t.drop();
});

async function channel(input: Record<string, unknown>): Promise<string> {
  const result = await createChannel(t.db, { input, actor: 'admin@example.com', keyring });
  if (!result.ok) throw new Error(result.message);
  return result.id;
}

async function integrationRoutedTo(name: string, channelIds: string[]): Promise<void> {
  await t.db.insert(integrations).values({ name, breakerKey: name, alertRouting: { channelIds } });
}

function runFailed(integration: string, n: number): PlatformEvent {
  return {
    type: 'run.failed',
    at: new Date(Date.now() + n).toISOString(),
    correlationId: `corr-${integration}-${n}`,
    integration,
    runId: randomUUID(),
    attempts: 4,
    error: `upstream answered 503 (failure ${n})`,
    errorClass: 'TransientError',
    reason: 'retries_exhausted',
    startedAt: new Date(Date.now() - 60_000).toISOString(),
  };
}

const alertsOf = (integration: string) =>
  t.db.select().from(alerts).where(eq(alerts.integration, integration)).orderBy(asc(alerts.createdAt));
const incidentsOf = (integration: string) =>
  t.db.select().from(incidents).where(eq(incidents.integration, integration)).orderBy(asc(incidents.openedAt));
const deliveriesOf = (alertId: string) =>
  t.db.select().from(alertDeliveries).where(eq(alertDeliveries.alertId, alertId)).orderBy(asc(alertDeliveries.attempt));

async function settled(integration: string, count: number) {
  return waitFor(`${count} settled alert(s) for ${integration}`, async () => {
    const rows = await alertsOf(integration);
    return rows.length === count && rows.every((a) => a.status !== 'pending') ? rows : undefined;
  });
}

/** Sends an event job and waits until alerting has completed it. */
async function handled(event: object): Promise<void> {
  const id = await boss.send(PLATFORM_EVENTS_QUEUE, event);
  await waitFor(`event job ${id} handled`, async () => {
    const job = await boss.getJobById(PLATFORM_EVENTS_QUEUE, id!);
    return job && (job.state === 'completed' || job.state === 'failed');
  });
}

describe('alerting', () => {
  it('sends one alert for an incident of 5 failed runs, then one recovery message', async () => {
    const hook = await channel({ type: 'webhook', name: 'storm-hook', url: `${http.url}/storm` });
    await integrationRoutedTo('storm', [hook]);
    const failures = [1, 2, 3, 4, 5].map((n) => runFailed('storm', n));
    for (const event of failures) await emitPlatformEvent(boss, event);

    const [incident] = await waitFor('5 failures counted', async () => {
      const rows = await incidentsOf('storm');
      return rows.length === 1 && rows[0].eventCount === 5 ? rows : undefined;
    });
    expect(incident).toMatchObject({
      kind: 'run_failed',
      closedAt: null,
      undelivered: false,
      lastError: 'TransientError: upstream answered 503 (failure 5)',
    });
    const [opened] = await settled('storm', 1);
    expect(opened).toMatchObject({ event: 'opened', status: 'delivered', incidentId: incident.id });
    expect(http.on('/storm')).toHaveLength(1);
    const first = failures[0] as Extract<PlatformEvent, { type: 'run.failed' }>;
    const body = http.on('/storm')[0].json as AlertMessage;
    expect(body).toMatchObject({
      event: 'incident.opened',
      integration: 'storm',
      runId: first.runId,
      runUrl: `${APP_URL}/runs/${first.runId}`,
      correlationId: 'corr-storm-1',
      attempts: 4,
      lastError: 'TransientError: upstream answered 503 (failure 1)',
    });
    expect(body.since).toBe(first.startedAt);

    const recoveryRun = randomUUID();
    await emitPlatformEvent(boss, {
      type: 'run.succeeded',
      at: new Date(Date.now() + 10).toISOString(),
      integration: 'storm',
      runId: recoveryRun,
      correlationId: 'corr-ok',
    });
    const [, recovered] = await settled('storm', 2);
    expect(recovered).toMatchObject({ event: 'recovered', status: 'delivered', incidentId: incident.id });
    expect((await incidentsOf('storm'))[0].closedAt).not.toBeNull();
    expect(http.on('/storm')).toHaveLength(2);
    expect(http.on('/storm')[1].json).toMatchObject({
      event: 'incident.recovered',
      eventCount: 5,
      runUrl: `${APP_URL}/runs/${recoveryRun}`,
    });

    // A second success has nothing to recover: no message.
    await handled({ type: 'run.succeeded', at: new Date(Date.now() + 20).toISOString(), integration: 'storm', runId: randomUUID() });
    expect(await alertsOf('storm')).toHaveLength(2);
    expect(http.on('/storm')).toHaveLength(2);
  });

  it('retries a delivery the receiver refuses twice: 3 attempts recorded, alert delivered', async () => {
    http.script('/flaky', [500, 500]);
    const hook = await channel({ type: 'webhook', name: 'flaky-hook', url: `${http.url}/flaky` });
    await integrationRoutedTo('flaky', [hook]);
    await emitPlatformEvent(boss, runFailed('flaky', 1));
    const [alert] = await settled('flaky', 1);
    expect(alert.status).toBe('delivered');
    const attempts = await deliveriesOf(alert.id);
    expect(attempts.map((a) => [a.attempt, a.status, a.responseCode, a.final])).toEqual([
      [1, 'failed', 500, false],
      [2, 'failed', 500, false],
      [3, 'delivered', 200, true],
    ]);
    expect(attempts[0].error).toBe('receiver answered HTTP 500 Internal Server Error: receiver says no (500)');
    const requests = http.on('/flaky');
    expect(requests).toHaveLength(3);
    expect(new Set(requests.map((r) => r.body)).size).toBe(1);
    expect((await incidentsOf('flaky'))[0].undelivered).toBe(false);

    const history = await alertHistory(t.db, { integration: 'flaky' });
    expect(history.items).toHaveLength(1);
    expect(history.items[0].deliveries.map((d) => [d.channelName, d.attempt, d.status])).toEqual([
      ['flaky-hook', 1, 'failed'],
      ['flaky-hook', 2, 'failed'],
      ['flaky-hook', 3, 'delivered'],
    ]);
  });

  it('flags the incident undelivered when every channel fails for good, and partial when one gets through', async () => {
    http.always('/down', 503);
    const down = await channel({ type: 'webhook', name: 'down-hook', url: `${http.url}/down` });
    const unreachable = await channel({ type: 'slack', name: 'unreachable-slack', url: 'http://127.0.0.1:9/services/x' });
    await integrationRoutedTo('doomed', [down, unreachable]);
    await emitPlatformEvent(boss, runFailed('doomed', 1));
    const [alert] = await settled('doomed', 1);
    expect(alert.status).toBe('undelivered');
    const attempts = await deliveriesOf(alert.id);
    expect(attempts).toHaveLength(6);
    expect(attempts.every((a) => a.status === 'failed')).toBe(true);
    expect(
      attempts
        .filter((a) => a.final)
        .map((a) => a.channelId)
        .sort(),
    ).toEqual([down, unreachable].sort());
    expect(attempts.find((a) => a.channelId === unreachable)?.error).toMatch(/^request failed: /);
    const [incident] = await incidentsOf('doomed');
    expect(incident.undelivered).toBe(true);

    const fine = await channel({ type: 'webhook', name: 'fine-hook', url: `${http.url}/fine` });
    await integrationRoutedTo('half', [down, fine]);
    await emitPlatformEvent(boss, runFailed('half', 1));
    const [partial] = await settled('half', 1);
    expect(partial.status).toBe('partial');
    expect((await incidentsOf('half'))[0].undelivered).toBe(false);
  });

  it('signs webhook alerts so the receiver can verify them, and delivers a recorded test alert', async () => {
    const secret = 'shared-with-the-receiver-0042';
    const hook = await channel({ type: 'webhook', name: 'signed-hook', url: `${http.url}/signed`, hmacSecret: secret });
    const { alertId } = await sendTestAlert(t.db, boss, { channelId: hook, actor: 'admin@example.com' });
    const alert = await waitFor('test alert delivered', async () => {
      const [row] = await t.db.select().from(alerts).where(eq(alerts.id, alertId));
      return row.status === 'delivered' ? row : undefined;
    });
    expect(alert).toMatchObject({ event: 'test', incidentId: null, channelIds: [hook] });
    const [request] = http.on('/signed');
    const signed = `${alertId}.${String(request.headers['webhook-timestamp'])}.${request.body}`;
    expect(request.headers['webhook-id']).toBe(alertId);
    expect(request.headers['webhook-signature']).toBe(`v1,${createHmac('sha256', secret).update(signed).digest('base64')}`);
    expect(request.json).toMatchObject({ event: 'alert.test', title: "Junction test alert for channel 'signed-hook'" });
    const [audit] = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.kind, 'action'), eq(auditLog.fieldName, 'alert_test')));
    expect(audit).toMatchObject({ changedBy: 'admin@example.com', newValue: { channel: 'signed-hook', channelId: hook, alertId } });
    expect(JSON.stringify(await t.db.select().from(auditLog))).not.toContain(secret);
  });

  it('posts Slack-shaped alerts for a breaker that opens, one incident per integration behind it', async () => {
    const slack = await channel({ type: 'slack', name: 'ops-slack', url: `${http.url}/slack` });
    await integrationRoutedTo('erp-export', [slack]);
    await integrationRoutedTo('erp-import', [slack]);
    const at = new Date().toISOString();
    await emitPlatformEvent(boss, {
      type: 'breaker.opened',
      at,
      breakerKey: 'erp',
      integrations: ['erp-export', 'erp-import'],
      error: 'ECONNRESET',
      openUntil: new Date(Date.now() + 60_000).toISOString(),
    });
    await settled('erp-export', 1);
    await settled('erp-import', 1);
    const posts = http.on('/slack').map((r) => r.json as { text: string; blocks: { type: string }[] });
    expect(posts).toHaveLength(2);
    for (const post of posts) {
      expect(Object.keys(post).sort()).toEqual(['blocks', 'text']);
      expect(post.text).toMatch(/erp-(export|import): circuit breaker 'erp' opened/);
      expect(post.blocks[0].type).toBe('header');
    }
    await emitPlatformEvent(boss, {
      type: 'breaker.closed',
      at: new Date(Date.now() + 5).toISOString(),
      breakerKey: 'erp',
      integrations: ['erp-export', 'erp-import'],
    });
    await settled('erp-export', 2);
    await settled('erp-import', 2);
    expect(
      await t.db
        .select()
        .from(incidents)
        .where(and(eq(incidents.kind, 'breaker_open'), isNull(incidents.closedAt))),
    ).toHaveLength(0);
    expect(
      http
        .on('/slack')
        .slice(2)
        .map((r) => (r.json as { text: string }).text)
        .sort(),
    ).toEqual([':white_check_mark: erp-export: recovered', ':white_check_mark: erp-import: recovered']);
  });

  it('e-mails failing credentials through a real SMTP server with the sealed password', async () => {
    const mail = await channel({
      type: 'email',
      name: 'ops-mail',
      to: 'oncall@example.com',
      from: 'junction@example.com',
      smtpUrl: `smtp://alerts:smtp-password-77@127.0.0.1:${smtp.port}`,
    });
    await integrationRoutedTo('crm-sync', [mail]);
    await emitPlatformEvent(boss, {
      type: 'credentials.failing',
      at: new Date().toISOString(),
      integration: 'crm-sync',
      error: 'token endpoint answered 401 invalid_client',
      correlationId: 'corr-cred',
    });
    const [alert] = await settled('crm-sync', 1);
    expect(alert.status).toBe('delivered');
    expect((await deliveriesOf(alert.id))[0]).toMatchObject({ status: 'delivered', responseCode: 250 });
    const [message] = smtp.messages;
    expect(message).toMatchObject({ user: 'alerts', from: 'junction@example.com', to: ['oncall@example.com'] });
    const text = decodeQuotedPrintable(message.raw);
    expect(text).toContain('Subject: [Junction] crm-sync: credentials rejected');
    expect(text).toContain('Last error: token endpoint answered 401 invalid_client');
    expect(text).toContain('Correlation id: corr-cred');
  });

  it('alerts nobody for a payload claiming to be about a dry-run', async () => {
    const hook = await channel({ type: 'webhook', name: 'dry-hook', url: `${http.url}/dry` });
    await integrationRoutedTo('dry', [hook]);
    await handled({ ...runFailed('dry', 1), dryRun: true });
    expect(await incidentsOf('dry')).toHaveLength(0);
    expect(await alertsOf('dry')).toHaveLength(0);
    expect(http.on('/dry')).toHaveLength(0);
  });
});
