import { randomBytes } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertDeliveries, alerts, incidents, integrations } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startSendingBoss } from '../../../test/fixtures/platform';
import { keyringFrom } from '../governance/crypto';
import { createChannel, updateChannel } from './channels';
import { ALERT_DELIVERY_QUEUE, alertStatus, deliverAlert, raiseAlert, routedChannelIds } from './delivery';
import { testMessage } from './messages';
import { startHttpReceiver, type HttpReceiver } from './test-receivers';

/** Delivery without the worker: the job handler is called directly, attempt by attempt. */

const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k1' });
let t: TestDatabase;
let boss: PgBoss;
let http: HttpReceiver;
beforeAll(async () => {
  t = await freshDatabase();
  boss = await startSendingBoss(t.url);
  http = await startHttpReceiver();
});
afterAll(async () => {
  await boss?.stop({ graceful: false });
  await http?.close();
  await t.drop();
});

async function channel(input: Record<string, unknown>): Promise<string> {
  const result = await createChannel(t.db, { input, actor: 'admin', keyring });
  if (!result.ok) throw new Error(result.message);
  return result.id;
}

describe('alert status', () => {
  it('is pending until every channel has a final attempt, then delivered, partial or undelivered', () => {
    expect(alertStatus(['a', 'b'], [{ channelId: 'a', status: 'delivered' }])).toBe('pending');
    expect(
      alertStatus(
        ['a', 'b'],
        [
          { channelId: 'a', status: 'delivered' },
          { channelId: 'b', status: 'delivered' },
        ],
      ),
    ).toBe('delivered');
    expect(
      alertStatus(
        ['a', 'b'],
        [
          { channelId: 'a', status: 'failed' },
          { channelId: 'b', status: 'delivered' },
        ],
      ),
    ).toBe('partial');
    expect(
      alertStatus(
        ['a', 'b'],
        [
          { channelId: 'a', status: 'failed' },
          { channelId: 'b', status: 'failed' },
        ],
      ),
    ).toBe('undelivered');
  });
});

describe('delivery', () => {
  it('routes to the enabled channels the integration names, or to all enabled ones', async () => {
    const a = await channel({ type: 'webhook', name: 'route-a', url: `${http.url}/a` });
    const b = await channel({ type: 'webhook', name: 'route-b', url: `${http.url}/b` });
    const off = await channel({ type: 'webhook', name: 'route-off', url: `${http.url}/off`, enabled: false });
    await t.db.insert(integrations).values([
      { name: 'only-b', breakerKey: 'x', alertRouting: { channelIds: [b, off] } },
      { name: 'muted', breakerKey: 'x', alertRouting: { channelIds: [] } },
    ]);
    expect(await routedChannelIds(t.db, { integration: 'only-b' })).toEqual([b]);
    expect(await routedChannelIds(t.db, { integration: 'muted' })).toEqual([]);
    expect((await routedChannelIds(t.db, { integration: 'unknown' })).sort()).toEqual([a, b].sort());
    expect((await routedChannelIds(t.db, { integration: null })).sort()).toEqual([a, b].sort());
    // Leave only the channels the next tests create enabled.
    for (const [id, name] of [
      [a, 'route-a'],
      [b, 'route-b'],
    ]) {
      await updateChannel(t.db, {
        id,
        expectedVersion: 1,
        input: { type: 'webhook', name, url: `${http.url}/${name}`, enabled: false },
        actor: 'admin',
        keyring,
      });
    }
  });

  it('commits the alert and one delivery job per channel with the caller transaction, or neither', async () => {
    const c1 = await channel({ type: 'webhook', name: 'tx-1', url: `${http.url}/tx1` });
    const c2 = await channel({ type: 'slack', name: 'tx-2', url: `${http.url}/tx2` });
    const message = testMessage({ channelName: 'tx', actor: 'a', at: new Date().toISOString() });
    const rolledBack = await t.db
      .transaction(async (tx) => {
        const raised = await raiseAlert(tx, { boss, message, incidentId: null, channelIds: [c1, c2] });
        tx.rollback();
        return raised;
      })
      .catch(() => null);
    expect(rolledBack).toBeNull();
    expect(await t.db.select().from(alerts)).toHaveLength(0);
    const [{ n }] = await t.db.$client<{ n: number }[]>`select count(*)::int as n from pgboss.job where name = ${ALERT_DELIVERY_QUEUE}`;
    expect(n).toBe(0);

    const { alertId } = await t.db.transaction((tx) => raiseAlert(tx, { boss, message, incidentId: null, channelIds: [c1, c2] }));
    const jobs = await t.db.$client<{ data: { alertId: string; channelId: string } }[]>`
      select data from pgboss.job where name = ${ALERT_DELIVERY_QUEUE} and data->>'alertId' = ${alertId}`;
    expect(jobs.map((j) => j.data.channelId).sort()).toEqual([c1, c2].sort());
  });

  it('records each attempt; the last allowed failure is final and leaves the alert undelivered', async () => {
    http.always('/refusing', 500);
    const hook = await channel({ type: 'webhook', name: 'refusing', url: `${http.url}/refusing` });
    const [incident] = await t.db.insert(incidents).values({ integration: 'refused', kind: 'run_failed' }).returning();
    const message = testMessage({ channelName: 'refusing', actor: 'a', at: new Date().toISOString() });
    const { alertId } = await t.db.transaction((tx) => raiseAlert(tx, { boss, message, incidentId: incident.id, channelIds: [hook] }));
    const data = { alertId, channelId: hook };
    expect(await deliverAlert(t.db, { keyring, data, retryCount: 0, retryLimit: 1 })).toBe('retry');
    expect((await t.db.select().from(alerts).where(eq(alerts.id, alertId)))[0].status).toBe('pending');
    expect(await deliverAlert(t.db, { keyring, data, retryCount: 1, retryLimit: 1 })).toBe('gave_up');
    const attempts = await t.db
      .select()
      .from(alertDeliveries)
      .where(eq(alertDeliveries.alertId, alertId))
      .orderBy(asc(alertDeliveries.attempt));
    expect(attempts.map((a) => [a.attempt, a.status, a.responseCode, a.final])).toEqual([
      [1, 'failed', 500, false],
      [2, 'failed', 500, true],
    ]);
    expect((await t.db.select().from(alerts).where(eq(alerts.id, alertId)))[0].status).toBe('undelivered');
    expect((await t.db.select().from(incidents).where(eq(incidents.id, incident.id)))[0].undelivered).toBe(true);
    // A redelivered job after the final attempt sends nothing more.
    expect(await deliverAlert(t.db, { keyring, data, retryCount: 2, retryLimit: 1 })).toBe('skipped');
    expect(http.on('/refusing')).toHaveLength(2);
  });

  it('records a secret that cannot be opened as a failed attempt saying which key is missing', async () => {
    const hook = await channel({ type: 'webhook', name: 'rotated', url: `${http.url}/rotated`, hmacSecret: 'sealed-under-k1-secret' });
    const message = testMessage({ channelName: 'rotated', actor: 'a', at: new Date().toISOString() });
    const { alertId } = await t.db.transaction((tx) => raiseAlert(tx, { boss, message, incidentId: null, channelIds: [hook] }));
    const otherKeyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k2' });
    expect(await deliverAlert(t.db, { keyring: otherKeyring, data: { alertId, channelId: hook }, retryCount: 0, retryLimit: 0 })).toBe(
      'gave_up',
    );
    const [attempt] = await t.db.select().from(alertDeliveries).where(eq(alertDeliveries.alertId, alertId));
    expect(attempt.error).toMatch(/^could not send: secret was sealed with key 'k1', which is not configured/);
    expect(attempt.error).not.toContain('sealed-under-k1-secret');
    expect(http.on('/rotated')).toHaveLength(0);
  });
});
