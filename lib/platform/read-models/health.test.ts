import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, disconnect } from '../../../db/client';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startHeartbeat } from '../execution/heartbeat';
import { checkHealth } from './health';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

describe('health', () => {
  it('names the worker as the problem when none has reported', async () => {
    const health = await checkHealth(t.db);
    expect(health.ok).toBe(false);
    expect(health.database.ok).toBe(true);
    expect(health.migrations.ok).toBe(true);
    expect(health.worker).toEqual({ ok: false, detail: expect.stringContaining('no worker has ever reported') });
  });

  it('is healthy while a worker beats and stale a minute after its last beat', async () => {
    const hb = await startHeartbeat(t.db, { workerId: 'w-test' });
    expect((await checkHealth(t.db)).ok).toBe(true);
    const later = new Date(Date.now() + 61_000);
    expect((await checkHealth(t.db, later)).worker.detail).toMatch(/last heartbeat 6\ds ago/);
    await hb.stop();
    expect((await checkHealth(t.db)).worker.ok).toBe(false);
  });

  it('reports an unreachable database without throwing', async () => {
    const url = new URL(t.url);
    url.port = '1';
    const dead = connect(url.toString(), { max: 1 });
    const health = await checkHealth(dead);
    expect(health.ok).toBe(false);
    // The driver's reason, not Drizzle's "Failed query: select 1", and not where the database is (anyone may ask).
    expect(health.database.detail).toBe('unreachable: connect ECONNREFUSED');
    await disconnect(dead);
  });

  it('reports migrations that are behind', async () => {
    await t.db.execute(sql`create table drizzle.__h as select * from drizzle.__drizzle_migrations`);
    await t.db.execute(sql`delete from drizzle.__drizzle_migrations where id = (select max(id) from drizzle.__drizzle_migrations)`);
    const health = await checkHealth(t.db);
    expect(health.migrations).toEqual({ ok: false, detail: expect.stringMatching(/^\d+ of \d+ applied: run npm run db:migrate$/) });
    await t.db.execute(
      sql`insert into drizzle.__drizzle_migrations select * from drizzle.__h h where h.id not in (select id from drizzle.__drizzle_migrations)`,
    );
  });
});
