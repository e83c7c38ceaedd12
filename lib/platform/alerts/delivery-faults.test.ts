import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { asc, eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertDeliveries, alerts, integrations } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startTestBoss } from '../../../test/fixtures/platform';
import { waitFor } from '../../../test/fixtures/wait';
import { PLATFORM_EVENTS_QUEUE, type PlatformEvent } from '../execution/events';
import { keyringFrom } from '../governance/crypto';
import { startAlerting } from './alerting';
import { createChannel, getChannel, updateChannel } from './channels';
import { ALERT_DELIVERY_QUEUE } from './delivery';
import { startHttpReceiver, type HttpReceiver } from './test-receivers';

/**
 * Delivery against receivers that misbehave the way real ones do, with the real alerting worker:
 * one that accepts the connection and never answers, an SMTP server that refuses the recipient
 * (final at once), a webhook refusing the request (4xx: final at once) or asking to wait
 * (Retry-After on 429/503: the next try waits that long, at most an hour), and channels an admin
 * edits or disables while a delivery waits for its retry.
 */

const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k1' });

let t: TestDatabase;
let boss: PgBoss;
let http: HttpReceiver;
let hanging: { url: string; sockets: Socket[]; server: Server };
let refusing: { port: number; close(): Promise<void> };
let alerting: { stop(): Promise<void> };

beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  http = await startHttpReceiver();
  // Accepts connections and reads the request, but never answers.
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('data', () => {});
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hanging = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, sockets, server };
  const smtp = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    onRcptTo(address, _session, callback) {
      const error = new Error(`5.1.1 <${address.address}>: Recipient address rejected: User unknown`) as Error & { responseCode: number };
      error.responseCode = 550;
      callback(error);
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
  refusing = {
    port: (smtp.server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => smtp.close(() => resolve())),
  };
  alerting = await startAlerting({
    db: t.db,
    boss,
    keyring,
    appUrl: 'http://localhost:3000',
    deliveryRetry: { limit: 2, delaySeconds: 2, backoff: false },
    pollingIntervalSeconds: 0.5,
    sendTimeoutMs: 1_000,
    log: () => {},
  });
});
afterAll(async () => {
  await alerting?.stop();
  await boss?.stop({ graceful: false });
  await http?.close();
  for (const s of hanging?.sockets ?? []) s.destroy();
  hanging?.server.close();
  await refusing?.close();
  await t.drop();
});

async function channel(input: Record<string, unknown>): Promise<string> {
  const result = await createChannel(t.db, { input, actor: 'admin@example.com', keyring });
  if (!result.ok) throw new Error(result.message);
  return result.id;
}

async function raise(integration: string, channelIds: string[]): Promise<void> {
  await t.db.insert(integrations).values({ name: integration, breakerKey: integration, alertRouting: { channelIds } });
  const event: PlatformEvent = {
    type: 'run.failed',
    at: new Date().toISOString(),
    integration,
    runId: randomUUID(),
    attempts: 3,
    error: 'upstream answered 503',
    errorClass: 'TransientError',
    reason: 'retries_exhausted',
    startedAt: new Date(Date.now() - 60_000).toISOString(),
  };
  await boss.send(PLATFORM_EVENTS_QUEUE, event);
}

const alertOf = async (integration: string) => (await t.db.select().from(alerts).where(eq(alerts.integration, integration)))[0];
const deliveriesOf = (alertId: string) =>
  t.db.select().from(alertDeliveries).where(eq(alertDeliveries.alertId, alertId)).orderBy(asc(alertDeliveries.attempt));
const settled = (integration: string) =>
  waitFor(
    `the alert of ${integration} to settle`,
    async () => {
      const a = await alertOf(integration);
      return a && a.status !== 'pending' ? a : undefined;
    },
    30_000,
  );

describe('delivery faults', () => {
  it('gives up on a receiver that never answers after the send timeout on each attempt, saying it timed out', async () => {
    const id = await channel({ name: 'hangs', type: 'webhook', url: hanging.url, enabled: true });
    const started = Date.now();
    await raise('hang-int', [id]);
    const alert = await settled('hang-int');
    expect(alert.status).toBe('undelivered');
    const attempts = await deliveriesOf(alert.id);
    expect(attempts.map((d) => [d.attempt, d.status, d.final, d.error])).toEqual([
      [1, 'failed', false, 'request timed out'],
      [2, 'failed', false, 'request timed out'],
      [3, 'failed', true, 'request timed out'],
    ]);
    expect(Date.now() - started).toBeLessThan(25_000);
  });

  it('records an SMTP server refusing the recipient with its reply code and words, final at once (5xx is permanent)', async () => {
    const id = await channel({
      name: 'refused-mail',
      type: 'email',
      to: ['nobody@example.com'],
      from: 'junction@example.com',
      smtpUrl: `smtp://127.0.0.1:${refusing.port}`,
      enabled: true,
    });
    await raise('smtp-int', [id]);
    const alert = await settled('smtp-int');
    expect(alert.status).toBe('undelivered');
    const attempts = await deliveriesOf(alert.id);
    // No retry: the server said no for good, another try would get the same answer.
    expect(attempts.map((d) => [d.attempt, d.status, d.responseCode, d.final])).toEqual([[1, 'failed', 550, true]]);
    expect(attempts[0].error).toContain(`SMTP delivery to 127.0.0.1:${refusing.port} failed`);
    expect(attempts[0].error).toContain('Recipient address rejected');
    expect(attempts[0].error).toMatch(/; not retried: SMTP 550 is a permanent rejection$/);
  });

  it('gives up at once on a webhook answering a 4xx other than 408 and 429, saying why', async () => {
    const id = await channel({ name: 'gone', type: 'webhook', url: `${http.url}/gone`, enabled: true });
    http.always('/gone', 404);
    await raise('gone-int', [id]);
    const alert = await settled('gone-int');
    expect(alert.status).toBe('undelivered');
    const attempts = await deliveriesOf(alert.id);
    expect(attempts.map((d) => [d.attempt, d.status, d.responseCode, d.final])).toEqual([[1, 'failed', 404, true]]);
    expect(attempts[0].error).toBe(
      'receiver answered HTTP 404 Not Found: receiver says no (404); not retried: HTTP 404 is the receiver refusing this request, a retry would get the same answer',
    );
    expect(http.on('/gone')).toHaveLength(1);
  });

  it('retries a 408 and a 429 like any failure', async () => {
    const id = await channel({ name: 'busy', type: 'webhook', url: `${http.url}/busy`, enabled: true });
    http.script('/busy', [408, 429]);
    await raise('busy-int', [id]);
    const alert = await settled('busy-int');
    expect(alert.status).toBe('delivered');
    expect((await deliveriesOf(alert.id)).map((d) => [d.attempt, d.status, d.responseCode, d.final])).toEqual([
      [1, 'failed', 408, false],
      [2, 'failed', 429, false],
      [3, 'delivered', 200, true],
    ]);
  });

  it('waits at least the Retry-After of a 429 before the next try, not the configured 2 s', async () => {
    const id = await channel({ name: 'rate-limited', type: 'webhook', url: `${http.url}/limited`, enabled: true });
    http.script('/limited', [429]);
    http.retryAfter('/limited', '5');
    await raise('limited-int', [id]);
    const alert = await settled('limited-int');
    expect(alert.status).toBe('delivered');
    const tries = http.on('/limited');
    expect(tries).toHaveLength(2);
    const waited = tries[1].at - tries[0].at;
    expect(waited).toBeGreaterThanOrEqual(4_900);
    const attempts = await deliveriesOf(alert.id);
    expect(attempts[0]).toMatchObject({ status: 'failed', responseCode: 429, final: false });
    expect(attempts[0].error).toBe(
      'receiver answered HTTP 429 Too Many Requests: receiver says no (429); the receiver asked to wait 5 s (Retry-After): the next try waits at least that long',
    );
  });

  it('caps a 503 Retry-After at an hour', async () => {
    const id = await channel({ name: 'maintenance', type: 'webhook', url: `${http.url}/maintenance`, enabled: true });
    http.always('/maintenance', 503);
    http.retryAfter('/maintenance', new Date(Date.now() + 3 * 86_400_000).toUTCString());
    const raisedAt = Date.now();
    await raise('maintenance-int', [id]);
    const [attempt] = await waitFor('the first attempt', async () => {
      const a = await alertOf('maintenance-int');
      const rows = a ? await deliveriesOf(a.id) : [];
      return rows.length ? rows : undefined;
    });
    expect(attempt.error).toMatch(
      /^receiver answered HTTP 503 Service Unavailable: receiver says no \(503\); the receiver asked to wait 3600 s \(Retry-After 259(19\d|200) s, capped\): the next try waits at least that long$/,
    );
    const job = await waitFor('its retry to be scheduled', async () => {
      const [row] = await t.db.execute<{ state: string; start_after: Date }>(
        sql`select state, start_after from pgboss.job where name = ${ALERT_DELIVERY_QUEUE} and data->>'channelId' = ${id}`,
      );
      return row?.state === 'retry' ? row : undefined;
    });
    const wait = new Date(job.start_after).getTime() - raisedAt;
    expect(wait).toBeGreaterThan(3_500_000);
    expect(wait).toBeLessThan(3_700_000);
    expect(http.on('/maintenance')).toHaveLength(1);
  });

  it('delivers a waiting retry to the URL an admin corrected meanwhile', async () => {
    const id = await channel({ name: 'fixed-later', type: 'webhook', url: `${http.url}/wrong`, enabled: true });
    // A proxy in front of nothing: 502 is retried (a 404 would be final at once, see above).
    http.always('/wrong', 502);
    await raise('fix-int', [id]);
    await waitFor('a first failed attempt', async () => {
      const a = await alertOf('fix-int');
      return a && (await deliveriesOf(a.id)).length >= 1;
    });
    const view = (await getChannel(t.db, { id }))!;
    const edited = await updateChannel(t.db, {
      id,
      expectedVersion: view.version,
      input: { name: 'fixed-later', type: 'webhook', url: `${http.url}/right`, enabled: true },
      actor: 'admin@example.com',
      keyring,
    });
    expect(edited.ok).toBe(true);
    const alert = await settled('fix-int');
    expect(alert.status).toBe('delivered');
    expect(http.on('/right')).toHaveLength(1);
  });

  it('sends nothing more to a channel an admin disabled while its retry waited, and settles the alert saying so', async () => {
    const id = await channel({ name: 'switched-off', type: 'webhook', url: `${http.url}/off`, enabled: true });
    http.script('/off', [503]);
    await raise('off-int', [id]);
    await waitFor('a first failed attempt', async () => {
      const a = await alertOf('off-int');
      return a && (await deliveriesOf(a.id)).length >= 1;
    });
    const view = (await getChannel(t.db, { id }))!;
    const edited = await updateChannel(t.db, {
      id,
      expectedVersion: view.version,
      input: { name: 'switched-off', type: 'webhook', url: `${http.url}/off`, enabled: false },
      actor: 'admin@example.com',
      keyring,
    });
    expect(edited.ok).toBe(true);
    const alert = await settled('off-int');
    expect(http.on('/off')).toHaveLength(1);
    expect(alert.status).toBe('undelivered');
    const attempts = await deliveriesOf(alert.id);
    expect(attempts.at(-1)).toMatchObject({ status: 'failed', final: true });
    expect(attempts.at(-1)!.error).toMatch(/^not sent: channel 'switched-off' is disabled \(last changed by admin@example\.com at \d{4}-/);
  });
});
