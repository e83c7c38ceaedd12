import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { asc, eq } from 'drizzle-orm';
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
import { startHttpReceiver, type HttpReceiver } from './test-receivers';

/**
 * Delivery against receivers that misbehave the way real ones do, with the real alerting worker:
 * one that accepts the connection and never answers, an SMTP server that refuses the recipient,
 * and channels an admin edits or disables while a delivery waits for its retry.
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

  it('records an SMTP server refusing the recipient with its reply code and words', async () => {
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
    expect(attempts).toHaveLength(3);
    for (const d of attempts) {
      expect(d.responseCode).toBe(550);
      expect(d.error).toContain(`SMTP delivery to 127.0.0.1:${refusing.port} failed`);
      expect(d.error).toContain('Recipient address rejected');
    }
  });

  it('delivers a waiting retry to the URL an admin corrected meanwhile', async () => {
    const id = await channel({ name: 'fixed-later', type: 'webhook', url: `${http.url}/wrong`, enabled: true });
    http.always('/wrong', 404);
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
