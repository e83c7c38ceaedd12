import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog } from '../../db/schema';
import { freshDatabase, type TestDatabase } from '../../test/db';
import { listUsers, updateUser, upsertSignedInUser } from './users';

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
});
