import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { asc, eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertDeliveries, alerts, incidents, integrations } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { spawnChildWorker, type ChildWorker } from '../../../test/fixtures/child-worker';
import { startTestBoss } from '../../../test/fixtures/platform';
import { waitFor } from '../../../test/fixtures/wait';
import { PLATFORM_EVENTS_QUEUE, type PlatformEvent } from '../execution/events';
import { keyringFrom } from '../governance/crypto';
import { startAlerting } from './alerting';
import { createChannel } from './channels';

/**
 * A delivery whose try dies with its worker: a real alerting worker process is killed (SIGKILL)
 * while it waits on a receiver that accepts the request and never answers, and another worker
 * takes over. Whatever pg-boss does with the job (expires it, retries it or dead-letters it), the
 * alert ends settled, never pending for good, with the lost try on record.
 */

const key = randomBytes(32).toString('base64');
const keyring = keyringFrom({ key, keyId: 'k1' });
/** Short, so pg-boss notices the dead worker's active job within a few seconds. */
const EXPIRE_SECONDS = 3;

let t: TestDatabase;
let boss: PgBoss;
/** `requests`: the alert id of each request received (x-junction-alert-id). */
let hanging: { url: string; sockets: Socket[]; requests: string[]; server: Server };
const children: ChildWorker[] = [];
const workers: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  // Accepts connections and reads the request, but never answers.
  const sockets: Socket[] = [];
  const requests: string[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) requests.push(/^x-junction-alert-id: *(\S+)/im.exec(head)?.[1] ?? '?');
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hanging = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, sockets, requests, server };
});
afterAll(async () => {
  for (const w of workers) await w.stop();
  for (const c of children) await c.kill();
  await boss?.stop({ graceful: false });
  for (const s of hanging?.sockets ?? []) s.destroy();
  hanging?.server.close();
  await t.drop();
});

/** A worker process whose delivery tries last up to a minute against the hanging receiver. */
async function doomedWorker(retryLimit: number): Promise<ChildWorker> {
  const child = await spawnChildWorker(
    t.url,
    `doomed-${children.length}`,
    { ALERT_KEY: key, DELIVERY_RETRY_LIMIT: String(retryLimit), DELIVERY_EXPIRE_SECONDS: String(EXPIRE_SECONDS), SEND_TIMEOUT_MS: '60000' },
    'alerting-process.ts',
  );
  children.push(child);
  return child;
}

async function takeOver(retryLimit: number): Promise<void> {
  workers.push(
    await startAlerting({
      db: t.db,
      boss,
      keyring,
      appUrl: 'http://localhost:3000',
      deliveryRetry: { limit: retryLimit, delaySeconds: 1, backoff: false, expireSeconds: EXPIRE_SECONDS },
      pollingIntervalSeconds: 0.5,
      sendTimeoutMs: 1_000,
      log: () => {},
    }),
  );
}

async function raise(integration: string): Promise<void> {
  const created = await createChannel(t.db, {
    input: { name: `${integration}-hook`, type: 'webhook', url: hanging.url, enabled: true },
    actor: 'admin@example.com',
    keyring,
  });
  if (!created.ok) throw new Error(created.message);
  await t.db.insert(integrations).values({ name: integration, breakerKey: integration, alertRouting: { channelIds: [created.id] } });
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

describe('a delivery try that dies with its worker', () => {
  it('is recorded as given up when it was the last try, and flags the incident undelivered', async () => {
    const doomed = await doomedWorker(0);
    await raise('killed-last');
    await waitFor('the last try to be waiting on the receiver', () => hanging.requests.length === 1, 30_000);
    await doomed.kill();
    await takeOver(0);

    const alert = await waitFor(
      'the alert to settle',
      async () => {
        const a = await alertOf('killed-last');
        return a && a.status !== 'pending' ? a : undefined;
      },
      30_000,
    );
    expect(alert.status).toBe('undelivered');
    const attempts = await deliveriesOf(alert.id);
    expect(attempts.map((d) => [d.attempt, d.status, d.final])).toEqual([[1, 'failed', true]]);
    expect(attempts[0].error).toBe(
      'given up: the try was lost: its worker stopped during it (killed or crashed) or was stuck past the job expiry; whether the receiver got it is unknown',
    );
    const [incident] = await t.db.select().from(incidents).where(eq(incidents.id, alert.incidentId!));
    expect(incident.undelivered).toBe(true);
    // Given up on, not tried again.
    expect(hanging.requests).toEqual([alert.id]);
  });

  it('is recorded as lost when a retry follows, and the last try settles the alert', async () => {
    for (const w of workers.splice(0)) await w.stop();
    const doomed = await doomedWorker(1);
    await raise('killed-first');
    await waitFor('the first try to be waiting on the receiver', () => hanging.requests.length === 2, 30_000);
    await doomed.kill();
    await takeOver(1);

    const alert = await waitFor(
      'the alert to settle',
      async () => {
        const a = await alertOf('killed-first');
        return a && a.status !== 'pending' ? a : undefined;
      },
      30_000,
    );
    expect(alert.status).toBe('undelivered');
    const attempts = await deliveriesOf(alert.id);
    expect(attempts.map((d) => [d.attempt, d.status, d.final, d.error])).toEqual([
      [
        1,
        'failed',
        false,
        'the try was lost: its worker stopped during it (killed or crashed) or was stuck past the job expiry, or its outcome could not be recorded; whether the receiver got it is unknown',
      ],
      [2, 'failed', true, 'request timed out'],
    ]);
    // Nothing knew whether the lost try had arrived: the retry sent it again (receivers dedupe on x-junction-alert-id).
    expect(hanging.requests.slice(1)).toEqual([alert.id, alert.id]);
  });
});
