import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, disconnect } from '../../../db/client';
import { integrations, runs, workerHeartbeats } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startHeartbeat } from '../execution/heartbeat';
import { raiseRunFloor } from '../execution/run-floor';
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

  it('answers within seconds while a session holds a lock on runs, saying so', async () => {
    // An admin's `lock table runs in access exclusive mode` (or a long migration): load balancers
    // and monitors time out after a few seconds, so the check must not wait for the lock.
    const holder = postgres(t.url, { max: 1, onnotice: () => {} });
    const hb = await startHeartbeat(t.db, { workerId: 'w-lock' });
    try {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const tx = holder.begin(async (q) => {
        await q`lock table runs in access exclusive mode`;
        locked();
        await held;
      });
      await isLocked;
      const started = Date.now();
      const health = await checkHealth(t.db);
      const tookMs = Date.now() - started;
      release();
      await tx;
      expect(tookMs).toBeLessThan(8_000);
      expect(health.database.ok).toBe(true);
      expect(health.database.detail).toMatch(/the runs table did not answer within \d+ s: a session may hold a lock on it/);
    } finally {
      await hb.stop();
      await holder.end();
    }
  }, 30_000);

  it('reports migrations that are behind', async () => {
    await t.db.execute(sql`create table drizzle.__h as select * from drizzle.__drizzle_migrations`);
    await t.db.execute(sql`delete from drizzle.__drizzle_migrations where id = (select max(id) from drizzle.__drizzle_migrations)`);
    const health = await checkHealth(t.db);
    expect(health.migrations).toEqual({ ok: false, detail: expect.stringMatching(/^\d+ of \d+ applied: run npm run db:migrate$/) });
    await t.db.execute(
      sql`insert into drizzle.__drizzle_migrations select * from drizzle.__h h where h.id not in (select id from drizzle.__drizzle_migrations)`,
    );
  });

  it('says when the bound below unfinished runs is held back: not raised by a settled worker, or by a run unfinished for weeks', async () => {
    // A worker up for 20 minutes that has never raised the bound (its role cannot see other sessions, say).
    await t.db
      .insert(workerHeartbeats)
      .values({ workerId: 'w-settled', hostname: 'h', pid: 1, startedAt: new Date(Date.now() - 20 * 60_000) });
    expect((await checkHealth(t.db)).database).toEqual({
      ok: true,
      detail:
        "reachable; the bound below unfinished runs was never raised: a prepared transaction, or a session whose transaction the worker's role cannot see (grant it pg_read_all_stats, as npm run db:roles does), keeps the worker from raising it, and each run's turn reads every week of runs",
    });
    await raiseRunFloor(t.db);
    expect((await checkHealth(t.db)).database).toEqual({ ok: true, detail: 'reachable' });
    await t.db.execute(sql`update run_active_floor set raised_at = now() - interval '3 hours'`);
    expect((await checkHealth(t.db)).database.detail).toMatch(/^reachable; the bound below unfinished runs was last raised 3 hours ago: /);
    await raiseRunFloor(t.db);

    // A run queued three weeks ago and never taken (its integration is on no worker): the trigger lowers the bound to it.
    await t.db.insert(integrations).values({ name: 'gone', breakerKey: 'gone' });
    const [stuck] = await t.db
      .insert(runs)
      .values({
        integration: 'gone',
        trigger: 'manual',
        triggeredBy: 'ada',
        correlationId: 'c-stuck',
        maxAttempts: 4,
        createdAt: new Date(Date.now() - 21 * 86_400_000),
      })
      .returning();
    await raiseRunFloor(t.db);
    expect((await checkHealth(t.db)).database).toEqual({
      ok: true,
      detail:
        "reachable; a run requested 21 days ago is still queued (the oldest in Runs, status active): each run's turn reads back to its week; cancel it, or start a worker that has its integration registered",
    });
    // Anyone may read the health check: neither the run's id nor its integration is in it.
    expect((await checkHealth(t.db)).database.detail).not.toMatch(new RegExp(`${stuck.id}|gone`));
    // Finished, it is no longer named (the next raise moves the bound past its week).
    await t.db
      .update(runs)
      .set({ status: 'cancelled', finishedAt: new Date() })
      .where(sql`${runs.id} = ${stuck.id}`);
    expect((await checkHealth(t.db)).database).toEqual({ ok: true, detail: 'reachable' });
    expect((await raiseRunFloor(t.db))!.getTime()).toBeGreaterThan(Date.now() - 2 * 3_600_000);
  });
});
