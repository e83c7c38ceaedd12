import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../test/db';
import { connect, disconnect } from './client';
import { applyMigrations, migrationStatus, shippedMigrations } from './migrate';

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
    await t.db.execute(
      sql`insert into drizzle.__drizzle_migrations select * from drizzle.__saved s where s.id not in (select id from drizzle.__drizzle_migrations)`,
    );
  });
});

describe('concurrent starters', () => {
  it('serialises two starters on an empty database: both succeed and every migration is applied once', async () => {
    const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => {} });
    const name = `jt_mig_${randomBytes(4).toString('hex')}`;
    await admin.unsafe(`create database ${name}`);
    const url = new URL(inject('adminUrl'));
    url.pathname = `/${name}`;
    const starters = [connect(url.toString(), { max: 1, name: 'starter-a' }), connect(url.toString(), { max: 1, name: 'starter-b' })];
    try {
      const results = await Promise.allSettled(starters.map((db) => applyMigrations(db)));
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok']);
      const applied = await starters[0].execute<{ n: number; distinct_hashes: number }>(
        sql`select count(*)::int as n, count(distinct hash)::int as distinct_hashes from drizzle.__drizzle_migrations`,
      );
      expect(applied[0]).toEqual({ n: shippedMigrations().length, distinct_hashes: shippedMigrations().length });
      expect(await migrationStatus(starters[1])).toMatchObject({ current: true });
    } finally {
      for (const db of starters) await disconnect(db);
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });
});
