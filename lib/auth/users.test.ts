import { readFileSync } from 'node:fs';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, users } from '../../db/schema';
import { freshDatabase, type TestDatabase } from '../../test/db';
import { accessDrift } from '../platform/governance/config-drift';
import { findSessionUser, IDENTITY_PROVIDER, listUsers, updateUser, upsertSignedInUser } from './users';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

describe('users', () => {
  it('takes the role from the first sign-in only, and audits it as the identity provider granting it', async () => {
    const first = await upsertSignedInUser(t.db, { subject: 'idp|ada', email: 'ada@x', name: 'Ada', initialRole: 'admin' });
    const again = await upsertSignedInUser(t.db, { subject: 'idp|ada', email: 'ada@x', name: 'Ada L.', initialRole: 'viewer' });
    expect(again.id).toBe(first.id);
    expect(again.role).toBe('admin');
    expect(again.name).toBe('Ada L.');
    // One row, for the first sign-in: a later sign-in changes nothing the trail holds.
    expect(await t.db.select().from(auditLog)).toEqual([
      expect.objectContaining({
        kind: 'user',
        fieldName: 'user.ada@x.role',
        oldValue: null,
        newValue: 'admin',
        changedBy: IDENTITY_PROVIDER,
      }),
    ]);
  });

  it('audits an e-mail changed at the identity provider, and a first sign-in raced by a second', async () => {
    const before = (await t.db.select().from(auditLog)).length;
    const [a, b] = await Promise.all(
      [0, 1].map(() => upsertSignedInUser(t.db, { subject: 'idp|kim', email: 'kim@x', name: 'Kim', initialRole: 'operator' })),
    );
    expect(a.id).toBe(b.id);
    await upsertSignedInUser(t.db, { subject: 'idp|kim', email: 'kim@new.example', name: 'Kim', initialRole: 'viewer' });
    const rows = (await t.db.select().from(auditLog)).slice(before);
    expect(rows.map((r) => [r.fieldName, r.oldValue, r.newValue, r.changedBy])).toEqual([
      ['user.kim@x.role', null, 'operator', IDENTITY_PROVIDER],
      ['user.kim@new.example.email', 'kim@x', 'kim@new.example', IDENTITY_PROVIDER],
    ]);
    await t.db.delete(users).where(eq(users.subject, 'idp|kim'));
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
    const byAdmins = async () => (await t.db.select().from(auditLog)).filter((r) => r.changedBy !== IDENTITY_PROVIDER);
    expect(await byAdmins()).toEqual([
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
    expect(await byAdmins()).toHaveLength(1);
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
    const rows = (await t.db.select().from(auditLog)).filter((r) => r.fieldName === 'user.pia@x.role' && r.changedBy !== IDENTITY_PROVIDER);
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

  it('gives a reused e-mail address a key of its own: a new hire is not compared with the person who had it', async () => {
    const oscar = await upsertSignedInUser(t.db, { subject: 'idp|oscar', email: 'oscar@x', name: 'Oscar', initialRole: 'operator' });
    await updateUser(t.db, { userId: oscar.id, disabled: true, actor: 'ada@x' });
    // The address goes to somebody else, who signs in for the first time.
    const nora = await upsertSignedInUser(t.db, { subject: 'idp|nora', email: 'oscar@x', name: 'Nora', initialRole: 'viewer' });
    expect(oscar.auditKey).toBe('oscar@x');
    expect(nora.auditKey).toBe(`oscar@x #${nora.id.slice(0, 8)}`);
    const [row] = (await t.db.select().from(auditLog)).filter((r) => r.fieldName === `user.${nora.auditKey}.role`);
    expect(row).toMatchObject({ oldValue: null, newValue: 'viewer', changedBy: IDENTITY_PROVIDER });
    // Before: their rows merged under user.oscar@x, and the check compared each with the other's.
    expect(await accessDrift(t.db)).toEqual([]);
    await updateUser(t.db, { userId: nora.id, role: 'operator', actor: 'ada@x' });
    expect(await accessDrift(t.db)).toEqual([]);
    await t.db.execute(sql`update users set role = 'admin' where id = ${nora.id}`);
    expect((await accessDrift(t.db)).map((f) => `${f.name} ${f.field}`)).toEqual([`${nora.auditKey} role`]);
    await t.db.execute(sql`update users set role = 'operator' where id = ${nora.id}`);
  });

  it('records the role of users who signed in before first sign-ins were audited (migration 0035), under keys of their own', async () => {
    // As a database from before: no audit keys, users without their first sign-in's row, two sharing an address.
    await t.db.execute(sql`alter table users drop constraint users_audit_key_unique`);
    await t.db.execute(sql`alter table users drop column audit_key`);
    await t.db.execute(
      sql`insert into users (subject, email, name, role, created_at) values ('idp|old', 'old@x', 'Old', 'operator', now() - interval '2 days')`,
    );
    await t.db.execute(sql`insert into users (subject, email, name, role) values ('idp|again', 'old@x', 'Again', 'viewer')`);
    await t.db.execute(sql`insert into users (subject, email, name, role) values ('idp|noemail', null, 'No e-mail', 'viewer')`);
    const migration = readFileSync(path.join(process.cwd(), 'db/migrations/0035_user_role_baselines.sql'), 'utf8').split(
      '--> statement-breakpoint',
    );
    const before = (await t.db.select().from(auditLog)).length;
    for (const statement of migration) await t.db.execute(sql.raw(statement));
    // The last statement again changes nothing.
    await t.db.execute(sql.raw(migration.at(-1)!));
    const byKey = new Map((await t.db.select().from(users)).map((u) => [u.subject, u]));
    const again = byKey.get('idp|again')!;
    const noEmail = byKey.get('idp|noemail')!;
    expect(byKey.get('idp|old')!.auditKey).toBe('old@x');
    expect(again.auditKey).toBe(`old@x #${again.id.slice(0, 8)}`);
    expect(noEmail.auditKey).toBe(noEmail.id);
    // Keys given at sign-in before are kept.
    expect(byKey.get('idp|ada')!.auditKey).toBe('ada@x');
    const recorded = (await t.db.select().from(auditLog)).slice(before);
    expect(recorded.map((r) => [r.kind, r.fieldName, r.oldValue, r.newValue, r.changedBy]).sort()).toEqual(
      [
        ['user', 'user.old@x.role', null, 'operator', 'system'],
        ['user', `user.${again.auditKey}.role`, null, 'viewer', 'system'],
        ['user', `user.${noEmail.id}.role`, null, 'viewer', 'system'],
      ].sort(),
    );
    expect(await accessDrift(t.db)).toEqual([]);
    // From then on a direct change of their role is told.
    await t.db.execute(sql`update users set role = 'admin' where subject = 'idp|old'`);
    expect((await accessDrift(t.db)).map((f) => `${f.name} ${f.field}`)).toEqual(['old@x role']);
    await t.db.execute(sql`delete from users where subject in ('idp|old', 'idp|again', 'idp|noemail')`);
  });
});
