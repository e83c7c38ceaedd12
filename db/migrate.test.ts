import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../test/db';
import { migrationStatus, shippedMigrations } from './migrate';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

describe('migrations', () => {
  it('reports a migrated database as current', async () => {
    const status = await migrationStatus(t.db);
    expect(status).toEqual({ applied: shippedMigrations().length, shipped: shippedMigrations().length, current: true });
  });

  it('reports a database with a missing migration as not current', async () => {
    await t.db.execute(sql`create table drizzle.__saved as select * from drizzle.__drizzle_migrations`);
    await t.db.execute(sql`delete from drizzle.__drizzle_migrations where id = (select max(id) from drizzle.__drizzle_migrations)`);
    const status = await migrationStatus(t.db);
    expect(status.current).toBe(false);
    expect(status.applied).toBe(shippedMigrations().length - 1);
    await t.db.execute(sql`insert into drizzle.__drizzle_migrations select * from drizzle.__saved s where s.id not in (select id from drizzle.__drizzle_migrations)`);
  });
});
