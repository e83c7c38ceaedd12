import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, users } from '../../db/schema';
import { freshDatabase, type TestDatabase } from '../../test/db';
import { findSessionUser, listUsers, updateUser, upsertSignedInUser } from './users';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

describe('users', () => {
  it('takes the role from the first sign-in only', async () => {
    const first = await upsertSignedInUser(t.db, { subject: 'idp|ada', email: 'ada@x', name: 'Ada', initialRole: 'admin' });
    const again = await upsertSignedInUser(t.db, { subject: 'idp|ada', email: 'ada@x', name: 'Ada L.', initialRole: 'viewer' });
    expect(again.id).toBe(first.id);
    expect(again.role).toBe('admin');
    expect(again.name).toBe('Ada L.');
  });

  it('keeps "last seen" to within five minutes of a signed-in person\'s requests, not their last sign-in', async () => {
    const user = await upsertSignedInUser(t.db, { subject: 'idp|seen', email: 'seen@x', name: 'Seen', initialRole: 'viewer' });
    await t.db
      .update(users)
      .set({ lastSeenAt: sql`now() - interval '32 minutes'` })
      .where(eq(users.id, user.id));
    // Before: a request read the user and left "32 minutes ago".
    const found = await findSessionUser(t.db, { id: user.id, sessionId: null });
    expect(Date.now() - found!.user.lastSeenAt!.getTime()).toBeLessThan(60_000);
    const [stored] = await t.db.select().from(users).where(eq(users.id, user.id));
    expect(stored.lastSeenAt!.getTime()).toBe(found!.user.lastSeenAt!.getTime());
    // Within five minutes no write: the next request leaves it as it is.
    await t.db
      .update(users)
      .set({ lastSeenAt: sql`now() - interval '2 minutes'` })
      .where(eq(users.id, user.id));
    const [twoMinutes] = await t.db.select().from(users).where(eq(users.id, user.id));
    await findSessionUser(t.db, { id: user.id, sessionId: null });
    const [after] = await t.db.select().from(users).where(eq(users.id, user.id));
    expect(after.lastSeenAt!.getTime()).toBe(twoMinutes.lastSeenAt!.getTime());
  });

  it('audits a role change and refuses to demote the last admin', async () => {
    const ada = (await listUsers(t.db)).find((u) => u.email === 'ada@x')!;
    const vera = await upsertSignedInUser(t.db, { subject: 'idp|vera', email: 'vera@x', name: 'Vera', initialRole: 'viewer' });
    await expect(updateUser(t.db, { userId: ada.id, role: 'viewer', actor: 'ada@x' })).rejects.toThrow(/last enabled admin/);
    await updateUser(t.db, { userId: vera.id, role: 'operator', actor: 'ada@x' });
    const rows = await t.db.select().from(auditLog);
    expect(rows).toEqual([
      expect.objectContaining({
        kind: 'user',
        fieldName: 'user.vera@x.role',
        oldValue: 'viewer',
        newValue: 'operator',
        changedBy: 'ada@x',
      }),
    ]);
    const unchanged = await updateUser(t.db, { userId: vera.id, role: 'operator', actor: 'ada@x' });
    expect(unchanged.role).toBe('operator');
    expect(await t.db.select().from(auditLog)).toHaveLength(1);
  });

  it('ends every session of a user it disables, so enabling them again does not revive one', async () => {
    const vera = (await listUsers(t.db)).find((u) => u.email === 'vera@x')!;
    expect(vera.sessionsValidAfter).toBeNull();
    const disabled = await updateUser(t.db, { userId: vera.id, disabled: true, actor: 'ada@x' });
    expect(disabled.sessionsValidAfter).toBeInstanceOf(Date);
    const enabled = await updateUser(t.db, { userId: vera.id, disabled: false, actor: 'ada@x' });
    expect(enabled).toMatchObject({ disabled: false, sessionsValidAfter: disabled.sessionsValidAfter });
    // A role change alone signs nobody out: the role is read on every request anyway.
    expect(await updateUser(t.db, { userId: vera.id, role: 'viewer', actor: 'ada@x' })).toMatchObject({
      sessionsValidAfter: disabled.sessionsValidAfter,
    });
  });

  it('refuses a role change made on a stale view (the role the admin saw is not the role now), changing nothing', async () => {
    const oli = await upsertSignedInUser(t.db, { subject: 'idp|oli', email: 'oli@x', name: 'Oli', initialRole: 'operator' });
    await upsertSignedInUser(t.db, { subject: 'idp|bea', email: 'bea@x', name: 'Bea', initialRole: 'admin' });
    // B, who saw operator, makes Oli admin; A, whose page still says operator, then makes Oli viewer.
    await updateUser(t.db, { userId: oli.id, role: 'admin', expectedRole: 'operator', actor: 'bea@x' });
    const auditBefore = await t.db.select().from(auditLog);
    const refused = updateUser(t.db, { userId: oli.id, role: 'viewer', expectedRole: 'operator', actor: 'ada@x' });
    await expect(refused).rejects.toMatchObject({ code: 'stale', status: 409 });
    await expect(refused).rejects.toThrow(/^Oli's role was changed to admin by bea@x .*\(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); reload/);
    expect((await listUsers(t.db)).find((u) => u.id === oli.id)).toMatchObject({ role: 'admin', disabled: false });
    expect(await t.db.select().from(auditLog)).toEqual(auditBefore);
    // With the role now on the page, the change goes through.
    expect(await updateUser(t.db, { userId: oli.id, role: 'viewer', expectedRole: 'admin', actor: 'ada@x' })).toMatchObject({
      role: 'viewer',
    });
  });

  it('two admins changing one role at once from the same view: one change wins, the other is refused', async () => {
    const pia = await upsertSignedInUser(t.db, { subject: 'idp|pia', email: 'pia@x', name: 'Pia', initialRole: 'operator' });
    const outcomes = await Promise.allSettled([
      updateUser(t.db, { userId: pia.id, role: 'admin', expectedRole: 'operator', actor: 'bea@x' }),
      updateUser(t.db, { userId: pia.id, role: 'viewer', expectedRole: 'operator', actor: 'ada@x' }),
    ]);
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0].reason).toMatchObject({ code: 'stale' });
    const now = (await listUsers(t.db)).find((u) => u.id === pia.id)!;
    expect(lost[0].reason.message).toContain(`Pia's role was changed to ${now.role} by`);
    const rows = (await t.db.select().from(auditLog)).filter((r) => r.fieldName === 'user.pia@x.role');
    expect(rows).toHaveLength(1);
    expect(rows[0].newValue).toBe(now.role);
  });

  it('refuses an enable or disable made on a stale view, naming who changed it and when', async () => {
    const sam = await upsertSignedInUser(t.db, { subject: 'idp|sam', email: 'sam@x', name: 'Sam', initialRole: 'viewer' });
    await updateUser(t.db, { userId: sam.id, disabled: true, expectedDisabled: false, actor: 'bea@x' });
    const refused = updateUser(t.db, { userId: sam.id, disabled: true, expectedDisabled: false, actor: 'ada@x' });
    await expect(refused).rejects.toMatchObject({ code: 'stale' });
    await expect(refused).rejects.toThrow(/^Sam was disabled by bea@x .*UTC\); reload/);
    const rows = (await t.db.select().from(auditLog)).filter((r) => r.fieldName === 'user.sam@x.disabled');
    expect(rows.map((r) => r.changedBy)).toEqual(['bea@x']);
    // A role change on the same stale view is refused too when it carries the enabled state it saw.
    await expect(
      updateUser(t.db, { userId: sam.id, role: 'operator', expectedRole: 'viewer', expectedDisabled: false, actor: 'ada@x' }),
    ).rejects.toMatchObject({ code: 'stale' });
    expect((await listUsers(t.db)).find((u) => u.id === sam.id)).toMatchObject({ role: 'viewer', disabled: true });
  });
});
