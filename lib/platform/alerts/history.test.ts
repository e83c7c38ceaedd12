import { randomBytes } from 'node:crypto';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startSendingBoss } from '../../../test/fixtures/platform';
import { keyringFrom } from '../governance/crypto';
import { createChannel } from './channels';
import { deliverAlert, raiseAlert } from './delivery';
import { alertHistory } from './history';
import { handlePlatformEvent } from './incidents';
import { testMessage } from './messages';
import { startHttpReceiver, type HttpReceiver } from './test-receivers';

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

const at = (minute: number) => new Date(Date.UTC(2026, 4, 1, 2, minute)).toISOString();

describe('alert history', () => {
  it('pages newest first by key, with each alert incident and delivery attempts, filtered by integration', async () => {
    const created = await createChannel(t.db, {
      input: { type: 'webhook', name: 'hist-hook', url: `${http.url}/h` },
      actor: 'admin',
      keyring,
    });
    if (!created.ok) throw new Error(created.message);
    // Seven alerts: alternating open/recover on 'alpha', then one on 'beta'.
    for (let minute = 1; minute <= 6; minute++) {
      const event =
        minute % 2 === 1
          ? ({
              type: 'run.failed',
              at: at(minute),
              integration: 'alpha',
              runId: `run-${minute}`,
              attempts: 2,
              error: 'x',
              errorClass: 'E',
              reason: 'permanent',
              startedAt: at(minute),
            } as const)
          : ({ type: 'run.succeeded', at: at(minute), integration: 'alpha', runId: `ok-${minute}` } as const);
      await handlePlatformEvent(t.db, { boss, event, appUrl: 'http://localhost:3000' });
    }
    await handlePlatformEvent(t.db, {
      boss,
      event: { type: 'credentials.failing', at: at(7), integration: 'beta', error: '401' },
      appUrl: 'http://localhost:3000',
    });

    const all: string[] = [];
    let before: { createdAt: Date; id: string } | undefined;
    for (let page = 0; page < 10; page++) {
      const result = await alertHistory(t.db, { limit: 3, before });
      all.push(...result.items.map((i) => i.id));
      if (!result.next) break;
      before = result.next;
    }
    expect(all).toHaveLength(7);
    expect(new Set(all).size).toBe(7);

    const alpha = await alertHistory(t.db, { integration: 'alpha', limit: 10 });
    expect(alpha.next).toBeNull();
    expect(alpha.items.map((i) => i.event)).toEqual(['recovered', 'opened', 'recovered', 'opened', 'recovered', 'opened']);
    expect(alpha.items[0].incident).toMatchObject({ kind: 'run_failed', closedAt: new Date(at(6)) });
    expect(alpha.items[0].message).toMatchObject({ event: 'incident.recovered', integration: 'alpha' });

    const beta = (await alertHistory(t.db, { integration: 'beta' })).items[0];
    const attempt = await deliverAlert(t.db, { keyring, data: { alertId: beta.id, channelId: created.id }, retryCount: 0, retryLimit: 3 });
    expect(attempt).toBe('delivered');
    const [withDelivery] = (await alertHistory(t.db, { integration: 'beta' })).items;
    expect(withDelivery).toMatchObject({ status: 'delivered', incident: { kind: 'credentials', closedAt: null } });
    expect(withDelivery.deliveries).toMatchObject([
      { channelName: 'hist-hook', channelType: 'webhook', attempt: 1, status: 'delivered', responseCode: 200, final: true },
    ]);
  });

  it('includes test alerts, which have no incident', async () => {
    const created = await createChannel(t.db, {
      input: { type: 'slack', name: 'hist-slack', url: `${http.url}/s` },
      actor: 'admin',
      keyring,
    });
    if (!created.ok) throw new Error(created.message);
    await t.db.transaction((tx) =>
      raiseAlert(tx, {
        boss,
        incidentId: null,
        channelIds: [created.id],
        message: testMessage({ channelName: 'hist-slack', actor: 'a', at: at(8) }),
      }),
    );
    const [latest] = (await alertHistory(t.db, { limit: 1 })).items;
    expect(latest).toMatchObject({ event: 'test', integration: null, incident: null, status: 'pending', deliveries: [] });
  });
});
