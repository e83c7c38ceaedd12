import { randomBytes } from 'node:crypto';
import { asc, eq, like } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertChannels, auditLog } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { keyringFrom } from '../governance/crypto';
import { openChannelSecret } from './channel-secret';
import { channelTarget, createChannel, getChannel, listChannels, updateChannel, webhookUrlsForEditing } from './channels';

const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k1' });
const HMAC = 'hmac-secret-9f8e7d6c5b4a';
const SMTP_PASSWORD = 'smtp-pass-1a2b3c4d';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

async function auditFor(name: string) {
  return t.db
    .select()
    .from(auditLog)
    .where(like(auditLog.fieldName, `channel.${name}.%`))
    .orderBy(asc(auditLog.id));
}

async function created(input: Record<string, unknown>): Promise<string> {
  const result = await createChannel(t.db, { input, actor: 'admin@example.com', keyring });
  if (!result.ok) throw new Error(result.message);
  return result.id;
}

describe('alert channels', () => {
  it('creates a webhook channel audited field by field, its HMAC secret sealed and shown only as set', async () => {
    const id = await created({ type: 'webhook', name: 'ops-hook', url: 'https://hooks.example.com/a', hmacSecret: HMAC });
    const [view] = (await listChannels(t.db)).filter((c) => c.id === id);
    expect(view).toMatchObject({
      name: 'ops-hook',
      type: 'webhook',
      enabled: true,
      version: 1,
      url: 'https://hooks.example.com/a',
      hmacSecret: { set: true },
      smtpPassword: null,
      updatedBy: 'admin@example.com',
    });
    expect(JSON.stringify(await listChannels(t.db))).not.toContain(HMAC);

    const audit = await auditFor('ops-hook');
    expect(audit.map((a) => a.fieldName).sort()).toEqual(
      [
        'channel.ops-hook.enabled',
        'channel.ops-hook.hmacSecret',
        'channel.ops-hook.name',
        'channel.ops-hook.type',
        'channel.ops-hook.url',
      ].sort(),
    );
    expect(audit.every((a) => a.kind === 'config' && a.integration === null && a.changedBy === 'admin@example.com')).toBe(true);
    expect(audit.find((a) => a.fieldName.endsWith('.hmacSecret'))?.newValue).toEqual({ replaced: true });
    expect(JSON.stringify(audit)).not.toContain(HMAC);

    const [row] = await t.db.select().from(alertChannels).where(eq(alertChannels.id, id));
    expect(row.sealedSecret).not.toContain(HMAC);
    expect(JSON.stringify(row.config)).not.toContain(HMAC);
    expect(await channelTarget(t.db, { id, keyring })).toMatchObject({ type: 'webhook', hmacSecret: HMAC });
  });

  it('keeps the SMTP password out of the view and the audit, and gives it to the worker', async () => {
    const id = await created({
      type: 'email',
      name: 'ops-mail',
      to: 'oncall@example.com, lead@example.com',
      from: 'junction@example.com',
      smtpUrl: `smtp://alerts:${SMTP_PASSWORD}@mail.example.com:2525`,
    });
    const view = await getChannel(t.db, { id });
    expect(view).toMatchObject({
      type: 'email',
      to: ['oncall@example.com', 'lead@example.com'],
      from: 'junction@example.com',
      smtpUrl: 'smtp://alerts@mail.example.com:2525',
      smtpPassword: { set: true },
      hmacSecret: null,
    });
    expect(JSON.stringify(await listChannels(t.db))).not.toContain(SMTP_PASSWORD);
    const audit = await auditFor('ops-mail');
    expect(JSON.stringify(audit)).not.toContain(SMTP_PASSWORD);
    expect(audit.find((a) => a.fieldName === 'channel.ops-mail.smtpPassword')?.newValue).toEqual({ replaced: true });
    expect(audit.find((a) => a.fieldName === 'channel.ops-mail.smtpUrl')?.newValue).toBe('smtp://alerts@mail.example.com:2525');
    expect(await channelTarget(t.db, { id, keyring })).toMatchObject({
      type: 'email',
      smtp: { host: 'mail.example.com', port: 2525, secure: false, user: 'alerts', password: SMTP_PASSWORD },
    });
  });

  it('refuses invalid input with a message per field', async () => {
    const bad = await createChannel(t.db, {
      input: { type: 'webhook', name: 'x', url: 'ftp://nope', hmacSecret: 'short' },
      actor: 'a',
      keyring,
    });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.fieldErrors?.url).toMatch(/url must be an http\(s\):\/\/ URL/);
    expect(bad.fieldErrors?.hmacSecret).toMatch(/at least 16 characters/);
    expect(bad.message).toMatch(/not saved/);

    // Credentials in the URL would be on the Alerts page for viewers and in the audit trail for good.
    for (const url of ['http://user:s3cretPass@hooks.example.com/x', 'https://token@hooks.example.com/x']) {
      const withPassword = await createChannel(t.db, { input: { type: 'webhook', name: 'creds', url }, actor: 'a', keyring });
      expect(withPassword.ok ? null : withPassword.fieldErrors?.url).toMatch(/^url carries a user name or password, .*set hmacSecret/);
    }
    const long = await createChannel(t.db, {
      input: { type: 'webhook', name: 'long', url: `https://hooks.example.com/${'a'.repeat(2000)}` },
      actor: 'a',
      keyring,
    });
    expect(long.ok ? null : long.fieldErrors?.url).toBe('url must be at most 2,000 characters');
    expect((await listChannels(t.db)).filter((c) => c.name === 'creds' || c.name === 'long')).toEqual([]);
    expect(JSON.stringify(await t.db.select().from(auditLog))).not.toMatch(/s3cretPass|token@/);

    const type = await createChannel(t.db, { input: { type: 'pager', name: 'p' }, actor: 'a', keyring });
    expect(type.ok ? null : type.fieldErrors?.type).toMatch(/type must be one of webhook, slack, email/);

    const mail = await createChannel(t.db, {
      input: { type: 'email', name: 'm', to: 'not-an-address', from: 'x@example.com', smtpUrl: 'http://mail' },
      actor: 'a',
      keyring,
    });
    expect(mail.ok ? null : mail.fieldErrors).toMatchObject({
      to: expect.stringMatching(/'not-an-address' is not an e-mail address/),
      smtpUrl: expect.stringMatching(/smtp:\/\/user:password@host/),
    });
  });

  it('masks the password of a webhook URL stored before such URLs were refused, and still delivers with it', async () => {
    const [row] = await t.db
      .insert(alertChannels)
      .values({ name: 'legacy-creds', type: 'webhook', config: { url: 'https://ops:0ldPassw0rd@hooks.example.com/in' } })
      .returning();
    expect((await getChannel(t.db, { id: row.id }))?.url).toBe('https://***@hooks.example.com/in');
    expect(JSON.stringify(await listChannels(t.db))).not.toContain('0ldPassw0rd');
    // The admin's edit form gets it with the password masked, as the audit trail keeps it.
    const shown = { url: (await webhookUrlsForEditing(t.db)).get(row.id) };
    expect(shown.url).toBe('https://ops:***@hooks.example.com/in');
    // Saving it as shown is refused with what to do; replacing the URL audits the old one masked.
    const asShown = await updateChannel(t.db, {
      id: row.id,
      expectedVersion: 1,
      input: { type: 'webhook', name: 'legacy-creds', url: shown?.url },
      actor: 'ada',
      keyring,
    });
    expect(asShown.ok ? null : asShown.fieldErrors?.url).toMatch(/^url carries a user name or password/);
    expect(await channelTarget(t.db, { id: row.id, keyring })).toMatchObject({ url: 'https://ops:0ldPassw0rd@hooks.example.com/in' });
    const replaced = await updateChannel(t.db, {
      id: row.id,
      expectedVersion: 1,
      input: { type: 'webhook', name: 'legacy-creds', url: 'https://hooks.example.com/in', hmacSecret: 'a-long-enough-secret' },
      actor: 'ada',
      keyring,
    });
    expect(replaced.ok).toBe(true);
    const audit = await auditFor('legacy-creds');
    expect(audit.find((a) => a.fieldName === 'channel.legacy-creds.url')).toMatchObject({
      oldValue: 'https://ops:***@hooks.example.com/in',
      newValue: 'https://hooks.example.com/in',
    });
    expect(JSON.stringify(audit)).not.toContain('0ldPassw0rd');
  });

  it('gives every role a webhook URL with its token masked, and the URL whole only for the admin’s edit form', async () => {
    const token = 'Xq9ZpL2mN4vR8sT1aB3cD5eF';
    const slackLike = await created({
      type: 'webhook',
      name: 'token-in-path',
      url: `https://hooks.example.com/services/T0001/B0002/${token}`,
    });
    const inQuery = await created({
      type: 'webhook',
      name: 'token-in-query',
      url: `https://ops.example.com/alerts?token=${token}&channel=ops`,
    });
    const views = await listChannels(t.db);
    expect(views.find((c) => c.id === slackLike)?.url).toBe('https://hooks.example.com/services/…');
    expect(views.find((c) => c.id === inQuery)?.url).toBe('https://ops.example.com/alerts?token=***&channel=***');
    expect((await getChannel(t.db, { id: slackLike }))?.url).toBe('https://hooks.example.com/services/…');
    expect(JSON.stringify(views)).not.toContain(token);
    const editUrls = await webhookUrlsForEditing(t.db);
    expect(editUrls.get(slackLike)).toBe(`https://hooks.example.com/services/T0001/B0002/${token}`);
    expect(editUrls.get(inQuery)).toBe(`https://ops.example.com/alerts?token=${token}&channel=ops`);
    // Saved unchanged from the edit form: nothing written, and delivery still uses the whole URL.
    const same = await updateChannel(t.db, {
      id: slackLike,
      expectedVersion: 1,
      input: { type: 'webhook', name: 'token-in-path', url: editUrls.get(slackLike) },
      actor: 'ada',
      keyring,
    });
    expect(same).toEqual({ ok: true, id: slackLike });
    expect(await channelTarget(t.db, { id: slackLike, keyring })).toMatchObject({ url: editUrls.get(slackLike) });
    expect((await auditFor('token-in-path')).length).toBe(4);
  });

  it('refuses a second channel with the same name', async () => {
    await created({ type: 'slack', name: 'slack-ops', url: 'https://hooks.slack.example/T/B/x' });
    const again = await createChannel(t.db, {
      input: { type: 'slack', name: 'slack-ops', url: 'https://other.example/' },
      actor: 'a',
      keyring,
    });
    expect(again).toMatchObject({ ok: false, fieldErrors: { name: "a channel named 'slack-ops' already exists; choose another name" } });
  });

  it('refuses a stale edit, naming who changed the channel and when', async () => {
    const id = await created({ type: 'slack', name: 'stale-test', url: 'https://hooks.slack.example/1' });
    const first = await updateChannel(t.db, {
      id,
      expectedVersion: 1,
      input: { type: 'slack', name: 'stale-test', url: 'https://hooks.slack.example/2' },
      actor: 'bob@example.com',
      keyring,
    });
    expect(first).toEqual({ ok: true, id });
    const stale = await updateChannel(t.db, {
      id,
      expectedVersion: 1,
      input: { type: 'slack', name: 'stale-test', url: 'https://hooks.slack.example/3' },
      actor: 'carol@example.com',
      keyring,
    });
    expect(stale.ok).toBe(false);
    expect(stale.ok ? '' : stale.message).toMatch(/changed by bob@example\.com at \d{4}-\d\d-\d\dT.*; reload/);
    expect(await channelTarget(t.db, { id, keyring })).toMatchObject({ url: 'https://hooks.slack.example/2' });
    expect((await getChannel(t.db, { id }))?.version).toBe(2);
  });

  it('writes nothing for an edit that changes nothing, the same secret resubmitted included', async () => {
    const id = await created({ type: 'webhook', name: 'noop-hook', url: 'https://hooks.example.com/n', hmacSecret: HMAC });
    const before = (await auditFor('noop-hook')).length;
    for (const hmacSecret of [undefined, '', HMAC]) {
      const result = await updateChannel(t.db, {
        id,
        expectedVersion: 1,
        input: { type: 'webhook', name: 'noop-hook', url: 'https://hooks.example.com/n', hmacSecret },
        actor: 'x',
        keyring,
      });
      expect(result).toEqual({ ok: true, id });
    }
    expect(await auditFor('noop-hook')).toHaveLength(before);
    expect((await getChannel(t.db, { id }))?.version).toBe(1);
  });

  it('saves a channel named as the demo seed names its own, "Ops webhook (sandbox)"', async () => {
    // Before: refused ("name may contain letters, digits, spaces, _ and -"), even unchanged.
    const id = await created({ type: 'webhook', name: 'Ops webhook (sandbox)', url: 'https://hooks.example.com/o', hmacSecret: HMAC });
    const result = await updateChannel(t.db, {
      id,
      expectedVersion: 1,
      input: { type: 'webhook', name: 'Ops webhook (sandbox)', url: 'https://hooks.example.com/o2' },
      actor: 'x',
      keyring,
    });
    expect(result).toEqual({ ok: true, id });
  });

  it('replaces, keeps and removes secrets write-only, auditing only that they changed', async () => {
    const id = await created({ type: 'webhook', name: 'rotate-hook', url: 'https://hooks.example.com/r', hmacSecret: HMAC });
    const next = 'a-brand-new-hmac-secret-000';
    expect(
      await updateChannel(t.db, {
        id,
        expectedVersion: 1,
        input: { type: 'webhook', name: 'rotate-hook', url: 'https://hooks.example.com/r', hmacSecret: next },
        actor: 'x',
        keyring,
      }),
    ).toEqual({ ok: true, id });
    expect(await channelTarget(t.db, { id, keyring })).toMatchObject({ hmacSecret: next });
    // Omitted: kept, while another field changes.
    await updateChannel(t.db, {
      id,
      expectedVersion: 2,
      input: { type: 'webhook', name: 'rotate-hook', url: 'https://hooks.example.com/r2' },
      actor: 'x',
      keyring,
    });
    expect(await channelTarget(t.db, { id, keyring })).toMatchObject({ hmacSecret: next, url: 'https://hooks.example.com/r2' });
    await updateChannel(t.db, {
      id,
      expectedVersion: 3,
      input: { type: 'webhook', name: 'rotate-hook', url: 'https://hooks.example.com/r2', hmacSecret: null },
      actor: 'x',
      keyring,
    });
    expect(await getChannel(t.db, { id })).toMatchObject({ hmacSecret: { set: false }, version: 4 });

    const secretRows = (await auditFor('rotate-hook')).filter((a) => a.fieldName.endsWith('.hmacSecret'));
    expect(secretRows.map((a) => [a.oldValue, a.newValue])).toEqual([
      [null, { replaced: true }],
      [{ set: true }, { replaced: true }],
      [{ set: true }, { removed: true }],
    ]);
    expect(JSON.stringify(await auditFor('rotate-hook'))).not.toMatch(new RegExp(`${HMAC}|${next}`));

    // An SMTP URL without password keeps the stored one for the same user; another user drops it.
    const mail = await created({
      type: 'email',
      name: 'keep-mail',
      to: 'a@example.com',
      from: 'b@example.com',
      smtpUrl: `smtp://u1:${SMTP_PASSWORD}@mail.example.com:25`,
    });
    await updateChannel(t.db, {
      id: mail,
      expectedVersion: 1,
      input: { type: 'email', name: 'keep-mail', to: 'c@example.com', from: 'b@example.com', smtpUrl: 'smtp://u1@mail.example.com:25' },
      actor: 'x',
      keyring,
    });
    expect(await channelTarget(t.db, { id: mail, keyring })).toMatchObject({
      to: ['c@example.com'],
      smtp: { user: 'u1', password: SMTP_PASSWORD },
    });
    // Another user without a password would leave a channel that cannot log in: refused, nothing changes.
    const otherUser = await updateChannel(t.db, {
      id: mail,
      expectedVersion: 2,
      input: { type: 'email', name: 'keep-mail', to: 'c@example.com', from: 'b@example.com', smtpUrl: 'smtp://u2@mail.example.com:25' },
      actor: 'x',
      keyring,
    });
    expect(otherUser).toMatchObject({
      ok: false,
      code: 'invalid_input',
      fieldErrors: {
        smtpUrl: expect.stringContaining("smtpUrl names the user 'u2' but no password: write it as smtp://u2:PASSWORD@host:port"),
      },
    });
    expect(await getChannel(t.db, { id: mail })).toMatchObject({
      version: 2,
      smtpUrl: 'smtp://u1@mail.example.com:25',
      smtpPassword: { set: true },
    });
    // Without a user, the password goes.
    await updateChannel(t.db, {
      id: mail,
      expectedVersion: 2,
      input: { type: 'email', name: 'keep-mail', to: 'c@example.com', from: 'b@example.com', smtpUrl: 'smtp://mail.example.com:25' },
      actor: 'x',
      keyring,
    });
    expect(await getChannel(t.db, { id: mail })).toMatchObject({ smtpPassword: { set: false } });
  });

  it('refuses a new e-mail channel whose SMTP URL names a user without a password, writing nothing', async () => {
    const before = (await auditFor('no-pass')).length;
    const result = await createChannel(t.db, {
      input: { type: 'email', name: 'no-pass', to: 'c@example.com', from: 'b@example.com', smtpUrl: 'smtp://alerts@mail.example.com:587' },
      actor: 'admin@example.com',
      keyring,
    });
    expect(result).toMatchObject({
      ok: false,
      code: 'invalid_input',
      message: expect.stringContaining("smtpUrl names the user 'alerts' but no password"),
    });
    expect((await listChannels(t.db)).some((c) => c.name === 'no-pass')).toBe(false);
    expect(await auditFor('no-pass')).toHaveLength(before);
  });

  it('binds a sealed secret to its channel: copied onto another channel it does not open', async () => {
    const a = await created({ type: 'webhook', name: 'bound-a', url: 'https://hooks.example.com/a', hmacSecret: HMAC });
    const b = await created({ type: 'webhook', name: 'bound-b', url: 'https://hooks.example.com/b' });
    const [row] = await t.db.select().from(alertChannels).where(eq(alertChannels.id, a));
    expect(openChannelSecret(keyring, a, row.sealedSecret!)).toBe(HMAC);
    expect(() => openChannelSecret(keyring, b, row.sealedSecret!)).toThrow(/failed authentication/);
  });
});
