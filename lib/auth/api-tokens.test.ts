import { setTimeout as sleep } from 'node:timers/promises';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTokens, auditLog } from '../../db/schema';
import { freshDatabase, type TestDatabase } from '../../test/db';
import { AppError } from '../platform/errors';
import {
  authenticateApiToken,
  createApiToken,
  hashApiToken,
  listApiTokens,
  revokeApiToken,
  tokenRoleRefusal,
  ZCreateApiToken,
} from './api-tokens';
import { updateUser, upsertSignedInUser } from './users';

let t: TestDatabase;
let adaId: string;
let otherAdminId: string;
beforeAll(async () => {
  t = await freshDatabase();
  adaId = (await upsertSignedInUser(t.db, { subject: 'idp|ada', email: 'ada@x', name: 'Ada', initialRole: 'admin' })).id;
  otherAdminId = (await upsertSignedInUser(t.db, { subject: 'idp|ed', email: 'ed@x', name: 'Ed', initialRole: 'admin' })).id;
});
afterAll(() => t.drop());

const ada = () => ({ id: adaId, actor: 'ada@x' });

describe('API tokens', () => {
  it('stores only the hash of a jct_ value, audits the creation without the value, and acts as "token <name> (created by <admin>)"', async () => {
    const { token, value } = await createApiToken(t.db, {
      input: { name: 'nightly-ci', role: 'operator', expiresInDays: 30 },
      creator: ada(),
      correlationId: 'corr-create',
    });
    expect(value).toMatch(/^jct_[A-Za-z0-9_-]{43}$/);
    const [row] = await t.db.select().from(apiTokens);
    expect(row.tokenHash).toBe(hashApiToken(value));
    expect(JSON.stringify(row)).not.toContain(value.slice(4));
    expect(token).not.toHaveProperty('tokenHash');
    expect(row.expiresAt.getTime() - row.createdAt.getTime()).toBeCloseTo(30 * 86_400_000, -4);
    const audit = await t.db.select().from(auditLog).where(eq(auditLog.kind, 'action'));
    expect(audit).toEqual([expect.objectContaining({ changedBy: 'ada@x', fieldName: 'api_token_create', correlationId: 'corr-create' })]);
    expect(JSON.stringify(audit)).not.toContain(value.slice(4));

    const auth = await authenticateApiToken(t.db, value);
    expect(auth).toMatchObject({ ok: true, role: 'operator', userId: adaId, actor: 'token nightly-ci (created by ada@x)' });
    const [used] = await listApiTokens(t.db);
    expect(used.lastUsedAt).toBeInstanceOf(Date);
    expect(used).not.toHaveProperty('tokenHash');
  });

  it('refuses bad input, admin tokens and a second live token of the same name, creating nothing', async () => {
    const before = await t.db.select().from(apiTokens);
    await expect(createApiToken(t.db, { input: { name: 'x', role: 'admin', expiresInDays: 30 }, creator: ada() })).rejects.toThrow(
      /never an admin/,
    );
    await expect(createApiToken(t.db, { input: { name: 'x', role: 'viewer', expiresInDays: 0 }, creator: ada() })).rejects.toThrow(
      /at least 1 day/,
    );
    await expect(createApiToken(t.db, { input: { name: 'x', role: 'viewer', expiresInDays: 9999 }, creator: ada() })).rejects.toThrow(
      /at most 365/,
    );
    // Only a number of days, or its digits: before, true read as 1 day, [5] as 5, '0x10' as 16, '1e2' as 100.
    for (const days of [true, [5], '0x10', '1e2', '', null])
      await expect(
        createApiToken(t.db, { input: { name: 'x', role: 'viewer', expiresInDays: days as never }, creator: ada() }),
        JSON.stringify(days),
      ).rejects.toThrow(/whole number of days/);
    expect(ZCreateApiToken.parse({ name: 'digits', role: 'viewer', expiresInDays: ' 7' }).expiresInDays).toBe(7);
    await expect(createApiToken(t.db, { input: { name: 'nightly-ci', role: 'viewer', expiresInDays: 1 }, creator: ada() })).rejects.toThrow(
      /already exists/,
    );
    // The database refuses an admin token even if a caller skipped the schema.
    await expect(
      t.db.execute(
        sql`insert into api_tokens (name, role, token_hash, prefix, created_by_user_id, created_by, expires_at) values ('sneaky', 'admin', 'h', 'p', ${adaId}, 'ada@x', now() + interval '1 day')`,
      ),
    ).rejects.toMatchObject({ cause: expect.objectContaining({ constraint_name: 'api_tokens_role_check' }) });
    expect(await t.db.select().from(apiTokens)).toHaveLength(before.length);
  });

  it('answers unknown, malformed, expired and revoked tokens with a clear reason', async () => {
    expect(await authenticateApiToken(t.db, 'hunter2')).toMatchObject({ ok: false, error: expect.stringContaining("start with 'jct_'") });
    expect(await authenticateApiToken(t.db, `jct_${'A'.repeat(43)}`)).toMatchObject({
      ok: false,
      error: expect.stringContaining('not valid'),
    });

    const expiring = await createApiToken(t.db, { input: { name: 'short', role: 'viewer', expiresInDays: 1 }, creator: ada() });
    await t.db.execute(sql`update api_tokens set expires_at = now() - interval '1 second' where id = ${expiring.token.id}`);
    expect(await authenticateApiToken(t.db, expiring.value)).toMatchObject({ ok: false, error: expect.stringContaining('expired on') });

    const revoked = await createApiToken(t.db, { input: { name: 'to-revoke', role: 'viewer', expiresInDays: 7 }, creator: ada() });
    expect((await authenticateApiToken(t.db, revoked.value)).ok).toBe(true);
    await revokeApiToken(t.db, { id: revoked.token.id, actor: 'ed@x', correlationId: 'corr-revoke' });
    expect(await authenticateApiToken(t.db, revoked.value)).toMatchObject({ ok: false, error: expect.stringContaining('was revoked') });
    await expect(revokeApiToken(t.db, { id: revoked.token.id, actor: 'ed@x' })).rejects.toThrow(/already revoked/);
    const [audit] = await t.db
      .select()
      .from(auditLog)
      .where(sql`field_name = 'api_token_revoke'`);
    expect(audit).toMatchObject({
      changedBy: 'ed@x',
      correlationId: 'corr-revoke',
      newValue: expect.objectContaining({ name: 'to-revoke' }),
    });
    // The name is free again once the token is revoked.
    await createApiToken(t.db, { input: { name: 'to-revoke', role: 'viewer', expiresInDays: 7 }, creator: ada() });
  });

  it('answers a creation that races another of the same name with a conflict that says what to do, not a 500', async () => {
    // The other creation has inserted but not committed yet: this one's check does not see it,
    // its insert waits on the unique index and then collides.
    const other = await t.db.$client.reserve();
    try {
      await other`begin`;
      await other`insert into api_tokens (name, role, token_hash, prefix, created_by_user_id, created_by, expires_at)
        values ('race', 'viewer', 'other-hash', 'jct_xxxxxx', ${adaId}, 'ed@x', now() + interval '1 day')`;
      const racing = createApiToken(t.db, { input: { name: 'race', role: 'viewer', expiresInDays: 7 }, creator: ada() });
      const settled = racing.then(
        () => null,
        (error: unknown) => error,
      );
      await sleep(300);
      await other`commit`;
      const error = await settled;
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({
        code: 'conflict',
        message: "A token named 'race' already exists: revoke it first or pick another name.",
      });
    } finally {
      other.release();
    }
    expect((await listApiTokens(t.db)).filter((tk) => tk.name === 'race')).toHaveLength(1);
    expect(await t.db.select().from(auditLog).where(eq(auditLog.fieldName, 'api_token_create'))).toHaveLength(
      (await listApiTokens(t.db)).length - 1,
    );
  });

  it('says an expired token still holds its name until it is revoked', async () => {
    const { token } = await createApiToken(t.db, { input: { name: 'old-ci', role: 'viewer', expiresInDays: 1 }, creator: ada() });
    await t.db.execute(sql`update api_tokens set expires_at = now() - interval '1 day' where id = ${token.id}`);
    await expect(createApiToken(t.db, { input: { name: 'old-ci', role: 'viewer', expiresInDays: 7 }, creator: ada() })).rejects.toThrow(
      /^Token 'old-ci' expired on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC but still holds its name: revoke it first or pick another name\.$/,
    );
    await revokeApiToken(t.db, { id: token.id, actor: 'ada@x' });
    await createApiToken(t.db, { input: { name: 'old-ci', role: 'viewer', expiresInDays: 7 }, creator: ada() });
  });

  it("never grants more than its creator's current role, and stops when the creator is disabled", async () => {
    const { value } = await createApiToken(t.db, {
      input: { name: 'ed-script', role: 'operator', expiresInDays: 7 },
      creator: { id: otherAdminId, actor: 'ed@x' },
    });
    await updateUser(t.db, { userId: otherAdminId, role: 'viewer', actor: 'ada@x' });
    const capped = await authenticateApiToken(t.db, value);
    expect(capped).toMatchObject({ ok: true, role: 'viewer' });
    // The 403 says why an operator token acts as a viewer: the admin sees 'operator' on its row.
    expect(capped.ok && tokenRoleRefusal(capped, 'operator')).toBe(
      "This needs the operator role; API token 'ed-script' is an operator token but acts as a viewer, the current role of its creator (ed@x). Ask an admin to restore the creator's role or create a new token.",
    );
    await updateUser(t.db, { userId: otherAdminId, disabled: true, actor: 'ada@x' });
    expect(await authenticateApiToken(t.db, value)).toMatchObject({ ok: false, error: expect.stringContaining('was revoked') });
  });

  it("revokes a disabled user's tokens, audited, so enabling the user again does not bring them back", async () => {
    const fayId = (await upsertSignedInUser(t.db, { subject: 'idp|fay', email: 'fay@x', name: 'Fay', initialRole: 'admin' })).id;
    const { value } = await createApiToken(t.db, {
      input: { name: 'fay-script', role: 'operator', expiresInDays: 7 },
      creator: { id: fayId, actor: 'fay@x' },
    });
    const { value: adas } = await createApiToken(t.db, { input: { name: 'ada-keeps', role: 'viewer', expiresInDays: 7 }, creator: ada() });
    await updateUser(t.db, { userId: fayId, disabled: true, actor: 'ada@x', correlationId: 'corr-disable-fay' });
    await updateUser(t.db, { userId: fayId, disabled: false, role: 'operator', actor: 'ada@x' });
    // Before: refused while Fay was disabled, working again (as an operator) once enabled.
    expect(await authenticateApiToken(t.db, value)).toMatchObject({
      ok: false,
      error: expect.stringContaining("'fay-script' was revoked"),
    });
    expect(await authenticateApiToken(t.db, adas)).toMatchObject({ ok: true });
    const [row] = await t.db.select().from(apiTokens).where(eq(apiTokens.name, 'fay-script'));
    expect(row).toMatchObject({ revokedBy: 'ada@x', revokedAt: expect.any(Date) });
    const trail = await t.db.select().from(auditLog).where(eq(auditLog.correlationId, 'corr-disable-fay'));
    expect(trail.map((r) => [r.fieldName, r.newValue])).toEqual([
      [expect.stringContaining('disabled'), true],
      ['api_token_revoke', { name: 'fay-script', role: 'operator', prefix: row.prefix, reason: 'its creator Fay was disabled' }],
    ]);
  });
});
