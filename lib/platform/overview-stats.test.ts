import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, DatabaseOrTransaction } from '../../db/client';
import * as schema from '../../db/schema';
import { integrations } from '../../db/schema';
import { freshDatabase, type TestDatabase } from '../../test/db';
import { pruneRuns } from './retention';
import { overviewStats } from './run-queries';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values([
    { name: 'alpha', breakerKey: 'alpha' },
    { name: 'beta', breakerKey: 'beta' },
    { name: 'gamma', description: 'runs that never finish (queued, running, cancelled)', breakerKey: 'gamma' },
    { name: 'dry', description: 'only dry-runs', breakerKey: 'dry' },
    { name: 'never', description: 'never ran', breakerKey: 'never' },
  ]);
});
afterAll(() => t.drop());

/**
 * The Overview's numbers as a plain count over runs, without run_daily_counts or any index in
 * mind: today and the 6 days before it in UTC, every (integration, day) with a non-dry run.
 */
async function recount(db: DatabaseOrTransaction) {
  const daily = await db.execute<{ integration: string; day: string; finished: number; succeeded: number }>(sql`
    select integration, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD') as day,
           count(*) filter (where status in ('succeeded', 'failed'))::int as finished,
           count(*) filter (where status = 'succeeded')::int as succeeded
      from runs
     where not dry_run and created_at >= date_trunc('day', now(), 'UTC') - interval '6 days'
     group by 1, 2 order by 1, 2`);
  const [counts] = await db.execute<{ failed: number; running: number }>(sql`
    select (select count(*) from runs r where r.status = 'failed' and not r.dry_run and r.created_at > now() - interval '7 days'
                and r.id not in (select x.retry_of from runs x where x.retry_of is not null))::int as failed,
           (select count(*) from runs where status in ('queued', 'running', 'retrying', 'deferred'))::int as running`);
  return { failedAwaitingAction: counts.failed, running: counts.running, daily: [...daily] };
}

/** overviewStats and the recount in one transaction, so they share now(). */
async function expectAgrees(db: DatabaseOrTransaction = t.db) {
  const check = async (tx: DatabaseOrTransaction) => {
    const stats = await overviewStats(tx);
    const expected = await recount(tx);
    expect({ failedAwaitingAction: stats.failedAwaitingAction, running: stats.running, daily: stats.daily }).toEqual(expected);
    // The table behind the daily counts, over every day (not only the last 7): exactly the runs.
    const [drift] = await tx.execute<{ n: number }>(sql`
      select count(*)::int as n from (
        (select day, integration, finished, succeeded from run_daily_counts where finished > 0
         except all
         select (created_at at time zone 'UTC')::date, integration, count(*)::int, (count(*) filter (where status = 'succeeded'))::int
           from runs where not dry_run and status in ('succeeded', 'failed') group by 1, 2)
        union all
        (select (created_at at time zone 'UTC')::date, integration, count(*)::int, (count(*) filter (where status = 'succeeded'))::int
           from runs where not dry_run and status in ('succeeded', 'failed') group by 1, 2
         except all
         select day, integration, finished, succeeded from run_daily_counts where finished > 0)) d`);
    expect(drift.n).toBe(0);
    const [negative] = await tx.execute<{ n: number }>(sql`select count(*)::int as n from run_daily_counts where finished < 0 or succeeded < 0 or succeeded > finished`);
    expect(negative.n).toBe(0);
    return { stats, expected };
  };
  return db.transaction(check);
}

/** Rows of runs the plan's scans returned or threw away, summed over their loops. */
function runsScanned(node: Record<string, unknown>): number {
  const loops = Number(node['Actual Loops'] ?? 1);
  const own =
    node['Relation Name'] === 'runs'
      ? (Number(node['Actual Rows'] ?? 0) + Number(node['Rows Removed by Filter'] ?? 0) + Number(node['Rows Removed by Index Recheck'] ?? 0)) * loops
      : 0;
  const children = (node.Plans as Record<string, unknown>[] | undefined) ?? [];
  return own + children.reduce((sum, child) => sum + runsScanned(child), 0);
}

describe('overview stats', () => {
  it('agrees with a plain recount across statuses, dry-runs, retries and the UTC day boundaries', async () => {
    // 4 000 runs over the last 10 days (so some before the 7-day window), every status, 1 in 7 a
    // dry-run; 'gamma' only has runs that never finish, 'dry' only dry-runs.
    await t.db.execute(sql`
      insert into runs (integration, trigger, status, dry_run, triggered_by, correlation_id, max_attempts, created_at)
      select (array['alpha', 'alpha', 'beta', 'dry', 'gamma'])[1 + g % 5], 'schedule'::run_trigger,
             case when g % 5 = 4 then (array['queued', 'running', 'cancelled'])[1 + g % 3]
                  else (array['succeeded', 'succeeded', 'failed', 'queued', 'running', 'retrying', 'deferred', 'cancelled'])[1 + (g * 7) % 8] end::run_status,
             g % 7 = 0 or g % 5 = 3, 'schedule', 'c', 3,
             now() - make_interval(secs => g * 216.0)
        from generate_series(0, 3999) g`);
    // Retries: of half the failed runs, of a failed dry-run, of failed runs older than 7 days, and
    // a retry that failed too (a chain: its original is handled, the retry awaits action).
    await t.db.execute(sql`
      insert into runs (integration, trigger, status, dry_run, triggered_by, correlation_id, max_attempts, retry_of, created_at)
      select r.integration, 'retry', (case when row_number() over (order by r.created_at) % 4 = 0 then 'failed' else 'succeeded' end)::run_status,
             r.dry_run, 'oscar', 'c', 3, r.id, r.created_at + interval '1 minute'
        from runs r
       where r.status = 'failed' and (r.dry_run or r.created_at < now() - interval '7 days' or hashtext(r.id::text) % 2 = 0)`);
    const { stats, expected } = await expectAgrees();
    expect(expected.failedAwaitingAction).toBeGreaterThan(20);
    expect(stats.daily.map((d) => d.integration)).not.toContain('dry');
    expect(stats.daily.map((d) => d.integration)).not.toContain('never');
    // Days of 'gamma' are listed with 0 of 0, as the plain count lists them.
    const gamma = stats.daily.filter((d) => d.integration === 'gamma');
    expect(gamma.length).toBeGreaterThanOrEqual(6);
    expect(gamma.every((d) => d.finished === 0 && d.succeeded === 0)).toBe(true);
    expect(new Set(stats.daily.map((d) => d.day)).size).toBe(7);
  });

  it('counts a run in the UTC day it was created, at midnight exactly and a microsecond either side', async () => {
    await t.db.transaction(async (tx) => {
      // Around the first counted midnight (6 days ago), today's midnight, and the failed runs'
      // 7-day window (now() - 7 days exactly is outside it).
      await tx.execute(sql`
        insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
        select 'beta', 'schedule', s::run_status, 'schedule', 'c', 3, at + make_interval(secs => us / 1e6)
          from unnest(array[date_trunc('day', now(), 'UTC') - interval '6 days', date_trunc('day', now(), 'UTC'), now() - interval '7 days']) at
         cross join unnest(array[-1, 0, 1]) us
         cross join unnest(array['succeeded', 'failed']) s`);
      const { stats } = await expectAgrees(tx);
      const [days] = await tx.execute<{ first: string; today: string; before: string }>(sql`
        select to_char(now() at time zone 'UTC' - interval '6 days', 'YYYY-MM-DD') as first,
               to_char(now() at time zone 'UTC', 'YYYY-MM-DD') as today,
               to_char(now() at time zone 'UTC' - interval '7 days', 'YYYY-MM-DD') as before`);
      const listed = stats.daily.map((d) => d.day).sort();
      expect(listed[0]).toBe(days.first);
      expect(listed.at(-1)).toBe(days.today);
      expect(listed).not.toContain(days.before);
      // The runs created at midnight exactly (one succeeded, one failed) count in the first day.
      const [first] = await tx.execute<{ day: number; after_midnight: number }>(sql`
        select count(*) filter (where created_at >= m)::int as day, count(*) filter (where created_at > m)::int as after_midnight
          from runs cross join (select date_trunc('day', now(), 'UTC') - interval '6 days' as m) b
         where integration = 'beta' and not dry_run and status in ('succeeded', 'failed') and created_at < m + interval '1 day'`);
      expect(first.day - first.after_midnight).toBe(2);
      expect(stats.daily.find((d) => d.integration === 'beta' && d.day === days.first)?.finished).toBe(first.day);
    });
  });

  it('follows runs as they start, finish, change and are pruned, and a rolled-back change leaves no trace', async () => {
    // The runner's way: queued → running → retrying → succeeded or failed, one run at a time.
    const open = await t.db.execute<{ id: string }>(sql`select id from runs where status = 'queued' and integration in ('alpha', 'beta') order by created_at desc limit 40`);
    expect(open.length).toBe(40);
    for (const [i, { id }] of open.entries()) {
      await t.db.execute(sql`update runs set status = 'running', started_at = now() where id = ${id}`);
      await t.db.execute(sql`update runs set status = 'retrying', attempt_count = attempt_count + 1 where id = ${id}`);
      await t.db.execute(sql`update runs set progress_done = 10 where id = ${id}`);
      await t.db.execute(sql`update runs set status = ${i % 3 === 0 ? 'failed' : 'succeeded'}::run_status, finished_at = now() where id = ${id}`);
    }
    await expectAgrees();
    // Changes the console never makes, but the counts must follow them too: a finished run
    // flipping outcome, becoming a dry-run, moving to another day or integration.
    await t.db.execute(sql`update runs set status = 'failed' where id = ${open[1].id}`);
    await t.db.execute(sql`update runs set dry_run = true where id = ${open[2].id}`);
    await t.db.execute(sql`update runs set dry_run = false where id in (select id from runs where dry_run and status = 'succeeded' and integration = 'alpha' limit 5)`);
    await t.db.execute(sql`update runs set created_at = created_at - interval '2 days' where id = ${open[4].id}`);
    await t.db.execute(sql`update runs set integration = 'beta' where id = ${open[5].id}`);
    await t.db.execute(sql`update runs set status = 'succeeded', finished_at = now() where integration = 'gamma' and status = 'running'`);
    await expectAgrees();

    // Runs of one integration and day finishing at once, on several connections: none is lost.
    const queued = await t.db.execute<{ id: string }>(sql`select id from runs where status in ('queued', 'deferred') and integration = 'alpha' order by created_at desc limit 30`);
    await Promise.all(queued.map(({ id }) => t.db.transaction(async (tx) => tx.execute(sql`update runs set status = 'succeeded' where id = ${id}`))));
    await expectAgrees();

    // Rolled back: the counts stay as they were.
    const before = await overviewStats(t.db);
    await expect(
      t.db.transaction(async (tx) => {
        await tx.execute(sql`update runs set status = 'succeeded' where status in ('queued', 'running')`);
        await tx.execute(sql`delete from runs where status = 'failed' and retry_of is null and id not in (select retry_of from runs where retry_of is not null)`);
        expect((await overviewStats(tx)).daily).not.toEqual(before.daily);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await overviewStats(t.db)).toEqual(before);

    // Pruning deletes finished runs older than the retention period in batches.
    const { deleted } = await pruneRuns(t.db, { olderThan: new Date(Date.now() - 8 * 86_400_000), batchSize: 100 });
    expect(deleted).toBeGreaterThan(100);
    await expectAgrees();

    // TRUNCATE (tests, a reset) empties the counts with the runs.
    await expect(
      t.db.transaction(async (tx) => {
        await tx.execute(sql`truncate runs cascade`);
        expect(await tx.execute(sql`select 1 from run_daily_counts`)).toHaveLength(0);
        expect((await overviewStats(tx)).daily).toEqual([]);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    await expectAgrees();
  });

  it('reads a few rows per integration and day, not every run of the week', async () => {
    // 42 000 finished runs over the last 7 days (6 000 a day) for three integrations, 1 in 20 failed.
    await t.db.execute(sql`
      insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, created_at)
      select (array['alpha', 'beta', 'gamma'])[1 + g % 3], 'schedule',
             (case when g % 20 = 0 then 'failed' else 'succeeded' end)::run_status, 'schedule', 'c', 3,
             now() - make_interval(secs => g * 14.4)
        from generate_series(0, 41999) g`);
    await t.db.execute(sql`vacuum analyze runs, run_daily_counts`);
    const { expected } = await expectAgrees();
    const captured: { query: string; params: unknown[] }[] = [];
    const logging = drizzle(t.db.$client, { schema, logger: { logQuery: (query, params) => captured.push({ query, params }) } }) as unknown as Database;
    await overviewStats(logging);
    expect(captured).toHaveLength(2);
    const scanned: number[] = [];
    for (const c of captured) {
      const [{ 'QUERY PLAN': plan }] = await t.db.$client.unsafe(`explain (analyze, format json) ${c.query}`, c.params as never[]);
      scanned.push(runsScanned((typeof plan === 'string' ? JSON.parse(plan) : plan)[0].Plan as Record<string, unknown>));
    }
    const [window] = await t.db.execute<{ runs: number; failed: number; unfinished: number; retries: number; active: number }>(sql`
      select count(*)::int as runs,
             (select count(*) from runs where status = 'failed' and not dry_run and created_at > now() - interval '7 days')::int as failed,
             (count(*) filter (where status not in ('succeeded', 'failed')))::int as unfinished,
             (select count(*) from runs where retry_of is not null)::int as retries,
             (select count(*) from runs where status in ('queued', 'running', 'retrying', 'deferred'))::int as active
        from runs where created_at >= date_trunc('day', now(), 'UTC') - interval '6 days'`);
    // At least the 6 whole days before today: 36 000 of them.
    expect(window.runs).toBeGreaterThan(36_000);
    expect(expected.daily.reduce((sum, d) => sum + d.finished, 0)).toBeGreaterThan(36_000);
    // The counts: the failed runs of the window, the retries and the active runs (index entries).
    expect(scanned[0]).toBeLessThanOrEqual(window.failed + window.retries + window.active);
    // The daily counts: the runs that did not finish, and none of the finished ones.
    expect(scanned[1]).toBeLessThanOrEqual(window.unfinished);
  });
});
