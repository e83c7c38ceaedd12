import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freshDatabase, type TestDatabase } from './db';

/**
 * The test harness connects as the role CI asks for: with TEST_DB_ROLE=runtime, the
 * least-privilege runtime role of db/roles.ts (neither superuser nor owner of any table), so the
 * suites CI runs that way prove the application works with only those grants.
 */

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

describe('test harness database role', () => {
  it('is the runtime role (not superuser, owns nothing) when TEST_DB_ROLE=runtime, the admin otherwise', async () => {
    const [me] = await t.db.$client<{ role: string; superuser: boolean; owns: number; audit_update: boolean }[]>`
      select current_user as role, r.rolsuper as superuser,
             (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname in ('public', 'pgboss', 'drizzle') and c.relowner = r.oid) as owns,
             has_table_privilege('public.audit_log', 'UPDATE') as audit_update
        from pg_roles r where r.rolname = current_user`;
    const roles = inject('testRoles');
    if (process.env.TEST_DB_ROLE === 'runtime') {
      expect(roles).not.toBeNull();
      expect(me).toMatchObject({ superuser: false, owns: 0, audit_update: false });
      expect(me.role).not.toBe(roles?.owner);
    } else {
      expect(roles).toBeNull();
      expect(me.superuser).toBe(true);
    }
  });
});
