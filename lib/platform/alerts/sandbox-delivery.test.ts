import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertDeliveries, alerts, integrations } from '../../../db/schema';
import { startStandIns, type StandIns } from '../../../sandbox/stand-ins';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startTestBoss } from '../../../test/fixtures/platform';
import { waitFor } from '../../../test/fixtures/wait';
import { PLATFORM_EVENTS_QUEUE, type PlatformEvent } from '../execution/events';
import { keyringFrom } from '../governance/crypto';
import { startAlerting } from './alerting';
import { createChannel } from './channels';
import { webhookSignature } from './messages';

/**
 * Alerting against the sandbox's catchers over real HTTP and its SMTP stand-in, as the demo and an
 * operator would use them: a catcher told (over its admin API) to refuse twice and to verify what
 * it gets (signature over id, timestamp and the bytes it got; an old timestamp refused), and a
 * mail with a login.
 */

const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k1' });
const HMAC = 'whsec-sandbox-probe-1234';

let t: TestDatabase;
let boss: PgBoss;
let sandbox: StandIns;
let alerting: { stop(): Promise<void> };

beforeAll(async () => {
  t = await freshDatabase();
  sandbox = await startStandIns({ port: 0, smtpPort: 0, seed: 1, faults: {} });
  boss = await startTestBoss(t.url);
  alerting = await startAlerting({
    db: t.db,
    boss,
    keyring,
    appUrl: 'http://localhost:3000',
    deliveryRetry: { limit: 3, delaySeconds: 1, backoff: false },
    pollingIntervalSeconds: 0.5,
    log: () => {},
  });
});
afterAll(async () => {
  await alerting?.stop();
  await boss?.stop({ graceful: false });
  await sandbox?.close();
  await t.drop();
});

async function failedRun(integration: string, channelIds: string[]): Promise<string> {
  await t.db.insert(integrations).values({ name: integration, breakerKey: integration, alertRouting: { channelIds } });
  const runId = randomUUID();
  const event: PlatformEvent = {
    type: 'run.failed',
    at: new Date().toISOString(),
    integration,
    runId,
    attempts: 4,
    error: 'POST /journal answered 502',
    errorClass: 'TransientError',
    reason: 'retries_exhausted',
    startedAt: new Date(Date.now() - 120_000).toISOString(),
    correlationId: 'corr-sandbox-1',
  };
  await boss.send(PLATFORM_EVENTS_QUEUE, event);
  return runId;
}

const settledAlert = (integration: string) =>
  waitFor(
    `the alert of ${integration} to settle`,
    async () => {
      const [a] = await t.db.select().from(alerts).where(eq(alerts.integration, integration));
      return a && a.status !== 'pending' ? a : undefined;
    },
    30_000,
  );

describe('alerts to the sandbox catchers', () => {
  it('retries past a catcher refusing twice; the catcher verifies each try and refuses an old or tampered one', async () => {
    const admin = (path: string, body: unknown) =>
      fetch(`${sandbox.url}/_admin/catcher/ops-probe/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await admin('fail', { count: 2, status: 503 })).status).toBe(200);
    // The catcher checks the signature and the timestamp as a receiver should (401 otherwise).
    expect((await admin('verify', { secret: HMAC })).status).toBe(200);
    const created = await createChannel(t.db, {
      input: { name: 'ops-probe', type: 'webhook', url: `${sandbox.url}/catcher/webhook/ops-probe`, hmacSecret: HMAC, enabled: true },
      actor: 'admin@example.com',
      keyring,
    });
    if (!created.ok) throw new Error(created.message);
    const runId = await failedRun('sandbox-hook', [created.id]);
    const alert = await settledAlert('sandbox-hook');
    expect(alert.status).toBe('delivered');
    const attempts = await t.db
      .select()
      .from(alertDeliveries)
      .where(eq(alertDeliveries.alertId, alert.id))
      .orderBy(asc(alertDeliveries.attempt));
    expect(attempts.map((d) => [d.attempt, d.status, d.responseCode, d.final])).toEqual([
      [1, 'failed', 503, false],
      [2, 'failed', 503, false],
      [3, 'delivered', 200, true],
    ]);

    const caught = { messages: sandbox.state.catchers.messages };
    const mine = caught.messages.filter((m) => m.name === 'ops-probe');
    expect(mine.map((m) => [m.status, m.refused])).toEqual([
      [503, null],
      [503, null],
      [200, null],
    ]);
    for (const m of mine) {
      const signed = `${alert.id}.${m.headers['webhook-timestamp']}.${m.body}`;
      expect(m.headers['webhook-signature']).toBe(`v1,${createHmac('sha256', HMAC).update(signed, 'utf8').digest('base64')}`);
      expect(m.headers['webhook-id']).toBe(alert.id);
      expect(m.headers['x-junction-alert-id']).toBe(alert.id);
    }
    // Every try carries the same alert id and body: a receiver can drop the repeats.
    expect(new Set(mine.map((m) => m.body)).size).toBe(1);

    // The delivered request, its body changed, or as if signed ten minutes ago: refused.
    const delivered = mine[2];
    const resend = (body: string, timestamp: string, signature: string) =>
      fetch(`${sandbox.url}/catcher/webhook/ops-probe`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': alert.id,
          'webhook-timestamp': timestamp,
          'webhook-signature': signature,
        },
        body,
      });
    const tampered = await resend(
      delivered.body.replace('"attempts":4', '"attempts":1'),
      delivered.headers['webhook-timestamp'],
      delivered.headers['webhook-signature'],
    );
    expect([tampered.status, await tampered.text()]).toEqual([
      401,
      "catcher 'ops-probe' refused the delivery: No matching signature found",
    ]);
    const tenMinutesAgo = Math.floor(Date.now() / 1000) - 600;
    const old = await resend(
      delivered.body,
      String(tenMinutesAgo),
      webhookSignature({ id: alert.id, timestamp: tenMinutesAgo, body: delivered.body, secret: HMAC }),
    );
    expect([old.status, await old.text()]).toEqual([401, "catcher 'ops-probe' refused the delivery: Message timestamp too old"]);
    expect(JSON.parse(mine[2].body)).toMatchObject({
      event: 'incident.opened',
      integration: 'sandbox-hook',
      runId,
      correlationId: 'corr-sandbox-1',
    });
  });

  it('e-mails through the SMTP stand-in with a login, the run link and the error in the text', async () => {
    const created = await createChannel(t.db, {
      input: {
        name: 'mail-probe',
        type: 'email',
        to: ['oncall@example.com'],
        from: 'junction@example.com',
        smtpUrl: `smtp://alerts:stand-in-password@127.0.0.1:${sandbox.smtpPort}`,
        enabled: true,
      },
      actor: 'admin@example.com',
      keyring,
    });
    if (!created.ok) throw new Error(created.message);
    const runId = await failedRun('sandbox-mail', [created.id]);
    const mailAlert = await settledAlert('sandbox-mail');
    const tried = await t.db.select().from(alertDeliveries).where(eq(alertDeliveries.alertId, mailAlert.id));
    expect(tried.map((d) => d.error)).toEqual([null]);
    expect(mailAlert.status).toBe('delivered');
    const emails = sandbox.state.catchers.emails.filter((e) => e.to.includes('oncall@example.com'));
    expect(emails).toHaveLength(1);
    expect(emails[0]).toMatchObject({ user: 'alerts', from: 'junction@example.com' });
    expect(emails[0].subject).toContain('sandbox-mail');
    expect(emails[0].text).toContain(`http://localhost:3000/runs/${runId}`);
    expect(emails[0].text).toContain('POST /journal answered 502');
    expect(emails[0].raw).not.toContain('stand-in-password');
  });
});
