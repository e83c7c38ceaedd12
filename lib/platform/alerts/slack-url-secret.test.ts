import { randomBytes } from 'node:crypto';
import { asc, eq, like } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertChannels, alertDeliveries, auditLog } from '../../../db/schema';
import { startStandIns, type StandIns } from '../../../sandbox/stand-ins';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startSendingBoss } from '../../../test/fixtures/platform';
import { keyringFrom } from '../governance/crypto';
import { channelTarget, createChannel, getChannel, listChannels, sealPlainSlackUrls, updateChannel } from './channels';
import { deliverAlert, raiseAlert } from './delivery';
import { testMessage } from './messages';

/**
 * A Slack incoming-webhook URL is a bearer credential: whoever holds it can post to the channel.
 * It is sealed like the SMTP password, never in the channel's readable config, the console's view
 * or the audit trail, and only the delivery worker opens it.
 */

const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k1' });
let t: TestDatabase;
let boss: PgBoss;
let sandbox: StandIns;

beforeAll(async () => {
  t = await freshDatabase();
  boss = await startSendingBoss(t.url);
  sandbox = await startStandIns({ port: 0, smtpPort: 0, seed: 1, faults: {} });
});
afterAll(async () => {
  await boss?.stop({ graceful: false });
  await sandbox?.close();
  await t.drop();
});

/** A URL whose path is the credential, as Slack's are; the catcher answers on it. */
function slackUrl(token: string): string {
  return `${sandbox.url}/catcher/slack/${token}`;
}

async function auditFor(name: string) {
  return t.db
    .select()
    .from(auditLog)
    .where(like(auditLog.fieldName, `channel.${name}.%`))
    .orderBy(asc(auditLog.id));
}

async function rowOf(id: string) {
  const [row] = await t.db.select().from(alertChannels).where(eq(alertChannels.id, id));
  return row;
}

/** Everything readable without the key: the console's queries, the row's config, the audit trail. */
async function readable(id: string, name: string): Promise<string> {
  const row = await rowOf(id);
  return JSON.stringify([await listChannels(t.db), await getChannel(t.db, { id }), row.config, row.sealedSecret, await auditFor(name)]);
}

async function deliverTest(channelId: string, channelName: string): Promise<string> {
  const message = testMessage({ channelName, actor: 'a', at: new Date().toISOString() });
  const { alertId } = await t.db.transaction((tx) => raiseAlert(tx, { boss, message, incidentId: null, channelIds: [channelId] }));
  expect(await deliverAlert(t.db, { keyring, data: { alertId, channelId }, retryCount: 0, retryLimit: 0 })).toBe('delivered');
  return alertId;
}

function caughtBy(token: string) {
  return sandbox.state.catchers.messages.filter((m) => m.kind === 'slack' && m.name === token);
}

describe('Slack channel URL', () => {
  it('is sealed, shown as its host only, audited as set, and still delivers to the catcher', async () => {
    const token = `T0SECRET-${randomBytes(6).toString('hex')}`;
    const url = slackUrl(token);
    const created = await createChannel(t.db, { input: { type: 'slack', name: 'team-slack', url }, actor: 'admin@example.com', keyring });
    if (!created.ok) throw new Error(created.message);
    const { id } = created;

    expect(await readable(id, 'team-slack')).not.toContain(token);
    expect(await getChannel(t.db, { id })).toMatchObject({ url: null, slackUrl: { set: true, host: new URL(sandbox.url).host } });
    expect((await auditFor('team-slack')).map((a) => [a.fieldName, a.oldValue, a.newValue])).toEqual([
      ['channel.team-slack.name', null, 'team-slack'],
      ['channel.team-slack.type', null, 'slack'],
      ['channel.team-slack.enabled', null, true],
      ['channel.team-slack.url', null, { replaced: true }],
    ]);

    expect(await channelTarget(t.db, { id, keyring })).toMatchObject({ type: 'slack', url });
    const alertId = await deliverTest(id, 'team-slack');
    expect(caughtBy(token)).toHaveLength(1);
    expect(caughtBy(token)[0].json).toMatchObject({ text: expect.any(String) });
    const attempts = await t.db.select().from(alertDeliveries).where(eq(alertDeliveries.alertId, alertId));
    expect(JSON.stringify(attempts)).not.toContain(token);
  });

  it('keeps the stored URL when the form leaves it empty, replaces it when given, refuses only spaces', async () => {
    const first = `T0KEEP-${randomBytes(6).toString('hex')}`;
    const created = await createChannel(t.db, {
      input: { type: 'slack', name: 'keep-slack', url: slackUrl(first) },
      actor: 'admin@example.com',
      keyring,
    });
    if (!created.ok) throw new Error(created.message);
    const { id } = created;

    // Empty and omitted keep the URL; with nothing else changed nothing is written.
    for (const input of [
      { type: 'slack', name: 'keep-slack', url: '' },
      { type: 'slack', name: 'keep-slack' },
    ]) {
      expect(await updateChannel(t.db, { id, expectedVersion: 1, input, actor: 'bob@example.com', keyring })).toEqual({ ok: true, id });
    }
    expect((await getChannel(t.db, { id }))?.version).toBe(1);
    expect(
      await updateChannel(t.db, {
        id,
        expectedVersion: 1,
        input: { type: 'slack', name: 'keep-slack', enabled: false },
        actor: 'bob',
        keyring,
      }),
    ).toEqual({
      ok: true,
      id,
    });
    expect(await channelTarget(t.db, { id, keyring })).toMatchObject({ url: slackUrl(first) });

    const blank = await updateChannel(t.db, {
      id,
      expectedVersion: 2,
      input: { type: 'slack', name: 'keep-slack', url: '   ' },
      actor: 'bob',
      keyring,
    });
    expect(blank).toMatchObject({ ok: false, code: 'invalid_input' });
    expect(blank.ok ? null : blank.fieldErrors?.url).toMatch(/only spaces.*leave the field empty to keep the current one/);
    const notHttp = await updateChannel(t.db, {
      id,
      expectedVersion: 2,
      input: { type: 'slack', name: 'keep-slack', url: 'javascript:alert(1)' },
      actor: 'bob',
      keyring,
    });
    expect(notHttp.ok ? null : notHttp.fieldErrors?.url).toMatch(/url must be an http\(s\):\/\/ URL/);
    expect((await getChannel(t.db, { id }))?.version).toBe(2);

    const second = `T0NEXT-${randomBytes(6).toString('hex')}`;
    expect(
      await updateChannel(t.db, {
        id,
        expectedVersion: 2,
        input: { type: 'slack', name: 'keep-slack', url: slackUrl(second), enabled: true },
        actor: 'bob',
        keyring,
      }),
    ).toEqual({ ok: true, id });
    expect(await channelTarget(t.db, { id, keyring })).toMatchObject({ url: slackUrl(second) });
    const trail = await auditFor('keep-slack');
    expect(trail.filter((a) => a.fieldName === 'channel.keep-slack.url').map((a) => [a.oldValue, a.newValue])).toEqual([
      [null, { replaced: true }],
      [{ set: true }, { replaced: true }],
    ]);
    const text = await readable(id, 'keep-slack');
    expect(text).not.toContain(first);
    expect(text).not.toContain(second);

    await deliverTest(id, 'keep-slack');
    expect(caughtBy(second)).toHaveLength(1);
    expect(caughtBy(first)).toHaveLength(0);
  });

  it('refuses a new Slack channel without a URL, naming the field', async () => {
    for (const url of [undefined, '', '  ']) {
      const result = await createChannel(t.db, { input: { type: 'slack', name: 'no-url', url }, actor: 'a', keyring });
      expect(result).toMatchObject({ ok: false, code: 'invalid_input', fieldErrors: { url: expect.stringMatching(/url/) } });
    }
    expect(await t.db.select().from(alertChannels).where(eq(alertChannels.name, 'no-url'))).toHaveLength(0);
  });

  it('seals a URL saved in plain config before the fix, hiding it from reads until then', async () => {
    const token = `T0LEGACY-${randomBytes(6).toString('hex')}`;
    const [legacy] = await t.db
      .insert(alertChannels)
      .values({ name: 'legacy-slack', type: 'slack', config: { url: slackUrl(token) } })
      .returning();
    // Before sealing: the console sees the host only, delivery still works.
    expect(JSON.stringify(await listChannels(t.db))).not.toContain(token);
    expect(await getChannel(t.db, { id: legacy.id })).toMatchObject({
      url: null,
      slackUrl: { set: true, host: new URL(sandbox.url).host },
    });
    await deliverTest(legacy.id, 'legacy-slack');
    expect(caughtBy(token)).toHaveLength(1);

    // The worker's start-up sweep.
    const sealed = await sealPlainSlackUrls(t.db, { keyring });
    expect(sealed.map((r) => r.id)).toEqual([legacy.id]);
    const row = await rowOf(legacy.id);
    expect(JSON.stringify(row.config)).not.toContain(token);
    expect(row.sealedSecret).not.toContain(token);
    expect(row.version).toBe(1);
    expect(await channelTarget(t.db, { id: legacy.id, keyring })).toMatchObject({ url: slackUrl(token) });
    const [action] = await t.db.select().from(auditLog).where(eq(auditLog.fieldName, 'slack_urls_sealed'));
    expect(action.newValue).toEqual({ channels: ['legacy-slack'] });
    expect(JSON.stringify(await t.db.select().from(auditLog))).not.toContain(token);
    expect(await sealPlainSlackUrls(t.db, { keyring })).toEqual([]);
  });

  it('seals a plain URL when its channel is edited, never writing it to the audit trail', async () => {
    const token = `T0EDITED-${randomBytes(6).toString('hex')}`;
    const [legacy] = await t.db
      .insert(alertChannels)
      .values({ name: 'old-slack', type: 'slack', config: { url: slackUrl(token) } })
      .returning();
    const result = await updateChannel(t.db, {
      id: legacy.id,
      expectedVersion: 1,
      input: { type: 'slack', name: 'old-slack', url: '', enabled: false },
      actor: 'bob',
      keyring,
    });
    expect(result).toEqual({ ok: true, id: legacy.id });
    expect(await readable(legacy.id, 'old-slack')).not.toContain(token);
    expect((await auditFor('old-slack')).map((a) => a.fieldName)).toEqual(['channel.old-slack.enabled']);
    expect(JSON.stringify(await t.db.select().from(auditLog))).not.toContain(token);
    expect(await channelTarget(t.db, { id: legacy.id, keyring })).toMatchObject({ url: slackUrl(token) });
  });
});
