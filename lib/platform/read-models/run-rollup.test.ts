import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { integrations } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { ensureRunPartitions, pruneRuns } from '../execution/retention';
import { listInventory } from './inventory';
import { reopenRunHours, ROLLUP_KEEP_HOURS, ROLLUP_SEAL_HOURS, sealRunHours } from './run-rollup';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values([
    { name: 'busy', breakerKey: 'busy' },
    { name: 'steady', breakerKey: 'steady' },
    { name: 'late', description: 'runs that finish hours after they were created', breakerKey: 'late' },
    { name: 'never', breakerKey: 'never' },
  ]);
  // The weeks of the last three, for the runs retention drops below.
  await ensureRunPartitions(t.db, { from: new Date(Date.now() - 21 * DAY), weeks: 4 });
});
afterAll(() => t.drop());

/**
 * The inventory's 24 h counts against the statement it replaced (a pass over every run of the last
 * 24 hours), in one transaction so both read the same now() and snapshot.
 */
async function expectSameAsRecount() {
  return t.db.transaction(async (tx) => {
    const expected = await tx.execute<{ name: string; finished: number; succeeded: number }>(sql`
      select i.name,
             (select count(*) from runs r where r.integration = i.name and not r.dry_run and r.created_at > now() - interval '24 hours'
                 and r.status in ('succeeded', 'failed'))::int as finished,
             (select count(*) from runs r where r.integration = i.name and not r.dry_run and r.created_at > now() - interval '24 hours'
                 and r.status = 'succeeded')::int as succeeded
        from integrations i order by i.name`);
    const rows = await listInventory(tx);
    expect(
      rows.map((r) => ({ name: r.name, finished: r.finished24h, succeeded: r.succeeded24h })).sort((a, b) => a.name.localeCompare(b.name)),
    ).toEqual(expected.map((e) => ({ name: e.name, finished: e.finished, succeeded: e.succeeded })));
    for (const row of rows) {
      const [one] = await listInventory(tx, { name: row.name });
      expect([one.finished24h, one.succeeded24h]).toEqual([row.finished24h, row.succeeded24h]);
    }
    return Object.fromEntries(expected.map((e) => [e.name, e]));
  });
}

/** Whether the hour `hoursAgo` whole hours before the current one is sealed. */
async function isSealed(hoursAgo: number): Promise<boolean> {
  const [row] = await t.db.execute<{ sealed: boolean }>(sql`
    select exists (select from run_rollup_hours where hour = date_trunc('hour', now(), 'UTC') - make_interval(hours => ${hoursAgo})) as sealed`);
  return row.sealed;
}

async function sealedHours(): Promise<string[]> {
  const rows = await t.db.execute<{ hour: string }>(sql`select hour::text from run_rollup_hours order by hour`);
  return rows.map((r) => r.hour);
}

/** Sealed hours that hold an active non-dry run: always none. */
async function sealedHoursWithActiveRuns(): Promise<number> {
  const [row] = await t.db.execute<{ n: number }>(sql`
    select count(*)::int as n from run_rollup_hours s
     where exists (select from runs r where r.created_at >= s.hour and r.created_at < s.hour + interval '1 hour'
                     and not r.dry_run and r.status in ('queued', 'running', 'retrying', 'deferred'))`);
  return row.n;
}

describe('inventory rollup', () => {
  it('shows what a pass over the last 24 hours shows: hour boundaries, late finishes, retries, dry-runs', async () => {
    // Every 7 minutes over 50 hours, plus runs exactly on, 1 ms before and 1 ms after each hour.
    await t.db.execute(sql`
      with h0 as (select date_trunc('hour', now(), 'UTC') as h0)
      insert into runs (integration, trigger, status, dry_run, triggered_by, correlation_id, max_attempts, created_at)
      select (array['busy', 'busy', 'steady'])[1 + g % 3], 'schedule',
             (array['succeeded', 'succeeded', 'failed', 'cancelled', 'succeeded'])[1 + (g * 3) % 5]::run_status,
             g % 11 = 0, 'schedule', 'c', 3, at
        from (select g, h0 - make_interval(mins => g * 7) as at from h0, generate_series(0, 428) g
              union all
              select 1000 + g, h0 - make_interval(hours => g / 3) + (array[interval '0', interval '-1 ms', interval '1 ms'])[1 + g % 3]
                from h0, generate_series(0, 150) g) s`);
    // Late ones: created 3, 10 and 20 hours ago (and 23 h 59 min, the partial hour 24 hours back),
    // still queued, running, retrying (an attempt failed, the retry is due) or deferred.
    await t.db.execute(sql`
      insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
      select 'late', 'schedule', s::run_status, 'schedule', 'c', 3, now() - make_interval(mins => m)
        from unnest(array['queued', 'running', 'retrying', 'deferred', 'running'], array[180, 600, 1200, 1439, 605]) as x(s, m)`);
    // A failed run of 5 hours ago, retried (a new run) 2 hours ago, which succeeded.
    await t.db.execute(sql`
      with failed as (
        insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
        values ('steady', 'schedule', 'failed', 'schedule', 'c', 3, now() - interval '5 hours') returning id)
      insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, retry_of, created_at)
      select 'steady', 'retry', 'succeeded', 'ada', 'c', 3, id, now() - interval '2 hours' from failed`);

    await expectSameAsRecount();
    const first = await sealRunHours(t.db);
    // At least the 20 hours that closed over 5 minutes ago and hold no active run.
    expect(first.sealed).toBeGreaterThanOrEqual(18);
    expect(await sealedHoursWithActiveRuns()).toBe(0);
    const before = await expectSameAsRecount();
    expect(before.late.finished).toBe(0);

    // The late runs finish (the retrying one succeeds on its next attempt): their hours were not
    // sealed, so they are counted live now, and sealed on the next round.
    await t.db.execute(sql`
      update runs set status = (case when status = 'queued' then 'failed' else 'succeeded' end)::run_status, finished_at = now()
       where integration = 'late'`);
    const after = await expectSameAsRecount();
    expect(after.late.finished).toBe(5);
    expect(after.late.succeeded).toBe(4);
    const second = await sealRunHours(t.db);
    expect(second.sealed).toBeGreaterThanOrEqual(3);
    expect(await expectSameAsRecount()).toEqual(after);
    // A round with nothing new seals nothing (but an hour that has just become closed enough).
    expect((await sealRunHours(t.db)).sealed).toBeLessThanOrEqual(1);
    expect(await expectSameAsRecount()).toEqual(after);
  });

  it('counts a run once when it finishes while the rollup is being sealed', async () => {
    const holder = await t.db.$client.reserve();
    const finisher = await t.db.$client.reserve();
    try {
      // Two running runs in an hour that closed 6 hours ago (not sealed while they run). The first
      // test sealed that hour: forget it, as if these had been there all along.
      await t.db.execute(sql`delete from run_rollup_hours where hour = date_trunc('hour', now(), 'UTC') - interval '6 hours'`);
      const [a, b] = await t.db.execute<{ id: string }>(sql`
        insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
        select 'late', 'schedule', 'running', 'schedule', 'c', 3, date_trunc('hour', now(), 'UTC') - interval '6 hours' + make_interval(mins => g)
          from generate_series(1, 2) g returning id`);
      await sealRunHours(t.db);
      expect(await isSealed(6)).toBe(false);
      await expectSameAsRecount();

      // A finishes in a transaction still open while the rollup seals: the rollup sees it running.
      await finisher`begin`;
      await finisher`update runs set status = 'succeeded', finished_at = now() where id = ${a.id}`;
      await sealRunHours(t.db);
      expect(await isSealed(6)).toBe(false);
      await finisher`commit`;
      await expectSameAsRecount();

      // B finishes while the rollup waits for its lock (its transaction began before the finish).
      await holder`select pg_advisory_lock(727277)`;
      const sealing = sealRunHours(t.db);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await finisher`update runs set status = 'failed', finished_at = now() where id = ${b.id}`;
      await holder`select pg_advisory_unlock(727277)`;
      await sealing;
      expect(await isSealed(6)).toBe(true);
      expect(await sealedHoursWithActiveRuns()).toBe(0);
      const counts = await expectSameAsRecount();

      // Several sealers at once (worker processes): one seals, the others find nothing to do.
      await t.db.execute(sql`delete from run_rollup_hours`);
      const results = await Promise.all([sealRunHours(t.db), sealRunHours(t.db), sealRunHours(t.db)]);
      expect(results.filter((r) => r.sealed > 0)).toHaveLength(1);
      expect(results.reduce((sum, r) => sum + r.sealed, 0)).toBe((await sealedHours()).length);
      expect(await expectSameAsRecount()).toEqual(counts);
    } finally {
      holder.release();
      finisher.release();
    }
  });

  it('stays consistent with retention: dropped weeks, pruned rows, and hours past the kept nine days', async () => {
    // Finished runs of two and a half weeks ago: their week is dropped whole.
    await t.db.execute(sql`
      insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
      select 'busy', 'schedule', 'succeeded', 'schedule', 'c', 3, now() - interval '17 days' - make_interval(mins => g)
        from generate_series(1, 50) g`);
    await sealRunHours(t.db);
    const hours = await sealedHours();
    const counts = await expectSameAsRecount();
    // A retention longer than the sealed window forgets no sealed hour.
    const dropped = await pruneRuns(t.db, { olderThan: new Date(Date.now() - 10 * DAY) });
    expect(dropped.droppedWeeks.length + dropped.deleted).toBeGreaterThan(0);
    expect(await sealedHours()).toEqual(hours);
    expect(await expectSameAsRecount()).toEqual(counts);

    // A retention shorter than the window (not allowed by RUN_RETENTION_DAYS, which is at least a
    // day): the rows of sealed hours go, and so do those hours, so nothing gone is counted.
    const pruned = await pruneRuns(t.db, { olderThan: new Date(Date.now() - 12 * HOUR) });
    expect(pruned.deleted).toBeGreaterThan(0);
    const [oldest] = await t.db.execute<{ ok: boolean }>(
      sql`select coalesce(min(hour) >= now() - interval '13 hours', true) as ok from run_rollup_hours`,
    );
    expect(oldest.ok).toBe(true);
    const thinned = await expectSameAsRecount();
    expect(thinned.busy.finished).toBeLessThan(counts.busy.finished);
    await sealRunHours(t.db);
    await expectSameAsRecount();

    // Hours older than the kept nine days are dropped by the next round, younger ones kept.
    expect(ROLLUP_KEEP_HOURS).toBe(9 * 24);
    await t.db.execute(sql`
      insert into run_rollup_hours (hour)
      values (date_trunc('hour', now(), 'UTC') - make_interval(hours => ${ROLLUP_KEEP_HOURS + 2})),
             (date_trunc('hour', now(), 'UTC') - make_interval(hours => ${ROLLUP_KEEP_HOURS - 2}))`);
    expect((await sealRunHours(t.db)).dropped).toBe(1);
    expect(await isSealed(ROLLUP_KEEP_HOURS - 2)).toBe(true);
  });

  it('lets a backfill (the demo seed) write runs into sealed hours: they are counted once it commits', async () => {
    await sealRunHours(t.db);
    expect(await isSealed(3)).toBe(true);
    let sealing: Promise<unknown> | undefined;
    await t.db.transaction(async (tx) => {
      await reopenRunHours(tx);
      await tx.execute(sql`
        insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
        select 'steady', 'manual', 'succeeded', 'ada', 'c', 3, date_trunc('hour', now(), 'UTC') - interval '3 hours' + make_interval(mins => g)
          from generate_series(1, 7) g`);
      // A round meanwhile waits for the backfill, instead of sealing without its runs.
      sealing = sealRunHours(t.db);
      await new Promise((resolve) => setTimeout(resolve, 200));
    });
    await sealing;
    expect(await isSealed(3)).toBe(true);
    await expectSameAsRecount();
  });

  it('seals the closed hours of the last 8 days (the Overview reads 7 UTC days) and no older one', async () => {
    await t.db.execute(sql`delete from run_rollup_hours`);
    await t.db.execute(sql`
      insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
      select 'steady', 'schedule', 'succeeded', 'schedule', 'c', 3, date_trunc('hour', now(), 'UTC') - make_interval(hours => h) + interval '10 minutes'
        from unnest(array[101, 171, ${ROLLUP_SEAL_HOURS}, ${ROLLUP_SEAL_HOURS + 1}, ${ROLLUP_SEAL_HOURS + 5}]::int[]) h`);
    await sealRunHours(t.db);
    expect(ROLLUP_SEAL_HOURS).toBe(8 * 24);
    expect(await isSealed(101)).toBe(true);
    expect(await isSealed(171)).toBe(true);
    expect(await isSealed(ROLLUP_SEAL_HOURS)).toBe(true);
    expect(await isSealed(ROLLUP_SEAL_HOURS + 1)).toBe(false);
    expect(await isSealed(ROLLUP_SEAL_HOURS + 5)).toBe(false);
    await expectSameAsRecount();
  });
});
