import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import * as schema from '../../../db/schema';
import { integrations } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { runsScanned } from '../../../test/explain';
import { ensureRunPartitions } from '../execution/retention';
import { AWAITING_ACTION_WINDOW_MS, awaitingActionFilter, listRuns, overviewStats, type OverviewStats } from './run-queries';
import { sealRunHours } from './run-rollup';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

// One clock for the whole file, passed to overviewStats and used by the recount: the test does not
// depend on the minute it runs at (the rollup seals by the database's clock, which moves on).
const now = new Date();
const since = new Date(now.getTime() - AWAITING_ACTION_WINDOW_MS);
const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
/** 00:00 UTC six days before today: the first day the Overview shows. */
const firstDay = today - 6 * DAY;
const iso = (ms: number) => new Date(ms).toISOString();

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values(['alpha', 'beta', 'gamma', 'edge', 'late'].map((name) => ({ name, breakerKey: name })));
  // The weeks of the last 9 days (the runs before the window, too).
  await ensureRunPartitions(t.db, { from: new Date(now.getTime() - 14 * DAY), weeks: 3 });
});
afterAll(() => t.drop());

/**
 * The two statements overviewStats replaced, as they should have read: a probe for a retry per
 * failed run, and a pass over every run since 00:00 UTC six days ago (inclusive, in UTC whatever
 * the session's time zone).
 */
async function recount(db: DatabaseOrTransaction): Promise<Pick<OverviewStats, 'failedAwaitingAction' | 'daily'>> {
  const [failed] = await db.execute<{ n: number }>(sql`
    select count(*)::int as n from runs r
     where r.status = 'failed' and not r.dry_run and r.created_at >= ${since.toISOString()}::timestamptz
       and not exists (select 1 from runs x where x.retry_of = r.id)`);
  const daily = await db.execute<{ integration: string; day: string; finished: number; succeeded: number }>(sql`
    select integration, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD') as day,
           count(*) filter (where status in ('succeeded', 'failed'))::int as finished,
           count(*) filter (where status = 'succeeded')::int as succeeded
      from runs
     where created_at >= ${iso(firstDay)}::timestamptz and not dry_run
     group by 1, 2 order by 1, 2`);
  return { failedAwaitingAction: failed.n, daily: [...daily] };
}

/** overviewStats equals the recount (same snapshot: one transaction); returns it. */
async function expectSameAsRecount(timezone?: string): Promise<OverviewStats> {
  return t.db.transaction(async (tx) => {
    if (timezone) await tx.execute(sql`select set_config('timezone', ${timezone}, true)`);
    const expected = await recount(tx);
    const stats = await overviewStats(tx, { since, now });
    expect({ failedAwaitingAction: stats.failedAwaitingAction, daily: stats.daily }).toEqual(expected);
    return stats;
  });
}

async function sealedHourCount(): Promise<number> {
  const [row] = await t.db.execute<{ n: number }>(
    sql`select count(*)::int as n from run_rollup_hours where hour >= ${iso(firstDay)}::timestamptz`,
  );
  return row.n;
}

async function insertRun(values: { integration: string; status: string; at: number; dryRun?: boolean; retryOf?: string }) {
  const [row] = await t.db.execute<{ id: string; created_at: string }>(sql`
    insert into runs (integration, trigger, status, dry_run, triggered_by, correlation_id, max_attempts, retry_of, created_at)
    values (${values.integration}, ${values.retryOf ? 'retry' : 'schedule'}, ${values.status}::run_status, ${values.dryRun ?? false},
            'schedule', 'c', 3, ${values.retryOf ?? null}::uuid, ${iso(values.at)}::timestamptz)
    returning id, created_at::text`);
  return row;
}

async function retriedAt(id: string): Promise<string | null> {
  const [row] = await t.db.execute<{ at: string | null }>(sql`select retried_at::text as at from runs where id = ${id}::uuid`);
  return row.at;
}

describe('overview stats', () => {
  it('counts what a pass over runs counts, before and after the hours are sealed, in any session time zone', async () => {
    // Every 13 minutes over 9 days: three integrations, every terminal status, 1 in 7 a dry-run.
    await t.db.execute(sql`
      insert into runs (integration, trigger, status, dry_run, triggered_by, correlation_id, max_attempts, created_at)
      select (array['alpha', 'beta', 'gamma'])[1 + g % 3], 'schedule',
             (array['succeeded', 'failed', 'succeeded', 'cancelled', 'failed', 'succeeded'])[1 + g % 6]::run_status,
             g % 7 = 0, 'schedule', 'c', 3, ${now.toISOString()}::timestamptz - make_interval(mins => g * 13)
        from generate_series(0, ${Math.floor((9 * DAY) / (13 * MINUTE))}) g`);
    // On the day boundaries: exactly 00:00 UTC of the first day shown (counted) and 1 ms before it
    // (not), and 1 ms either side of each midnight since (counted on their own UTC days).
    await insertRun({ integration: 'edge', status: 'succeeded', at: firstDay });
    await insertRun({ integration: 'edge', status: 'failed', at: firstDay - 1 });
    for (let k = 1; k <= 6; k++) {
      await insertRun({ integration: 'edge', status: 'succeeded', at: firstDay + k * DAY - 1 });
      await insertRun({ integration: 'edge', status: 'failed', at: firstDay + k * DAY });
    }
    // Failed on the awaiting-action bound: at `since` (counted) and 1 ms before (not).
    await insertRun({ integration: 'edge', status: 'failed', at: since.getTime() });
    await insertRun({ integration: 'edge', status: 'failed', at: since.getTime() - 1 });
    // Not finished yet: in an hour closed 3 hours ago, 2 days ago, in the first hour of the window
    // (all three in hours that then cannot be sealed), and one in the current hour.
    const hour = Math.floor(now.getTime() / HOUR) * HOUR;
    for (const [status, at] of [
      ['running', hour - 3 * HOUR + 10 * MINUTE],
      ['queued', now.getTime() - 2 * DAY],
      ['deferred', firstDay + 30 * MINUTE],
      ['retrying', now.getTime() - MINUTE],
    ] as const) {
      await insertRun({ integration: 'late', status, at });
    }

    // Nothing sealed: every count is read live.
    expect(await sealedHourCount()).toBe(0);
    const live = await expectSameAsRecount();
    // First day: its 00:00 run and its last millisecond's; then each day's first and last; today's first.
    const edge = live.daily.filter((d) => d.integration === 'edge');
    expect(edge.map((d) => d.day)).toEqual(Array.from({ length: 7 }, (_, k) => iso(firstDay + k * DAY).slice(0, 10)));
    expect(edge.map((d) => [d.finished, d.succeeded])).toEqual([
      [2, 2],
      [2, 1],
      [2, 1],
      [2, 1],
      [2, 1],
      [2, 1],
      [1, 0],
    ]);
    expect(live.failedAwaitingAction).toBeGreaterThan(100);

    // Sealed: the closed hours of the week but those holding a run not finished.
    await sealRunHours(t.db);
    expect(await sealedHourCount()).toBeGreaterThanOrEqual(6 * 24 - 5);
    const [unfinished] = await t.db.execute<{ n: number }>(sql`
      select count(*)::int as n from run_rollup_hours s
       where exists (select from runs r where r.integration = 'late' and r.created_at >= s.hour and r.created_at < s.hour + interval '1 hour')`);
    expect(unfinished.n).toBe(0);
    expect(await expectSameAsRecount()).toEqual(live);

    // The late runs finish: their hours were not sealed, so they are counted live, then sealed.
    await t.db.execute(sql`
      update runs set status = (case when status = 'queued' then 'failed' else 'succeeded' end)::run_status, finished_at = now()
       where integration = 'late'`);
    const finished = await expectSameAsRecount();
    expect(finished.daily.filter((d) => d.integration === 'late').reduce((n, d) => n + d.finished, 0)).toBe(4);
    await sealRunHours(t.db);
    expect(await expectSameAsRecount()).toEqual(finished);

    // Days are UTC days whatever the session's time zone (14 hours ahead of UTC, 10 behind).
    expect(await expectSameAsRecount('Pacific/Kiritimati')).toEqual(finished);
    expect(await expectSameAsRecount('Pacific/Honolulu')).toEqual(finished);
  });

  it('stops counting a failed run once it is retried, whenever the retry is inserted; dry-runs and older runs never count', async () => {
    const before = await expectSameAsRecount();
    const failed = await t.db.execute<{ id: string; created_at: string; dry_run: boolean }>(sql`
      select id, created_at::text, dry_run from runs where status = 'failed' and retried_at is null order by created_at`);
    const inWindow = failed.filter((r) => !r.dry_run && new Date(r.created_at) >= since);
    const [oldest, newest] = [inWindow[0], inWindow.at(-1)!];
    const dry = failed.find((r) => r.dry_run && new Date(r.created_at) >= since)!;
    const older = failed.find((r) => !r.dry_run && new Date(r.created_at) < since)!;

    // The oldest one of the window (its week is not the current one) retried now, the newest one
    // retried in the same instant it was created (one transaction writing both). Retries are
    // written queued: a finished run written into a sealed hour would need reopenRunHours.
    const retry = await insertRun({ integration: 'alpha', status: 'queued', at: now.getTime(), retryOf: oldest.id });
    expect(await retriedAt(oldest.id)).toBe(retry.created_at);
    await insertRun({ integration: 'alpha', status: 'queued', at: new Date(newest.created_at).getTime(), retryOf: newest.id });
    expect(await retriedAt(newest.id)).toBe(newest.created_at);
    const after = await expectSameAsRecount();
    expect(after.failedAwaitingAction).toBe(before.failedAwaitingAction - 2);

    // A second retry does not move the first one's time; a retry of a dry-run or of a run before
    // the window changes nothing counted.
    await insertRun({ integration: 'alpha', status: 'queued', at: now.getTime() + 1000, retryOf: oldest.id });
    expect(await retriedAt(oldest.id)).toBe(retry.created_at);
    await insertRun({ integration: 'alpha', status: 'queued', at: now.getTime(), dryRun: true, retryOf: dry.id });
    await insertRun({ integration: 'alpha', status: 'queued', at: now.getTime(), retryOf: older.id });
    expect(await retriedAt(dry.id)).not.toBeNull();
    expect(await retriedAt(older.id)).not.toBeNull();
    expect((await expectSameAsRecount()).failedAwaitingAction).toBe(after.failedAwaitingAction);

    // A retry written with a created_at before its run's (a backfill) still marks it.
    const [another] = inWindow.slice(1, 2);
    await insertRun({ integration: 'alpha', status: 'queued', at: new Date(another.created_at).getTime() - HOUR, retryOf: another.id });
    expect(await retriedAt(another.id)).not.toBeNull();
    expect((await expectSameAsRecount()).failedAwaitingAction).toBe(after.failedAwaitingAction - 1);
  });

  it('links to a Runs list of exactly the runs it counts, and the retried filter agrees with the retries', async () => {
    const stats = await overviewStats(t.db, { since, now });
    const listed: string[] = [];
    let after: string | undefined;
    do {
      const page = await listRuns(t.db, { ...awaitingActionFilter(since), limit: 50, after });
      listed.push(...page.items.map((r) => r.id));
      expect(page.items.every((r) => r.status === 'failed' && !r.dryRun && r.retriedBy === null)).toBe(true);
      after = page.next ?? undefined;
    } while (after);
    const expected = await t.db.execute<{ id: string }>(sql`
      select r.id from runs r
       where r.status = 'failed' and not r.dry_run and r.created_at >= ${since.toISOString()}::timestamptz
         and not exists (select 1 from runs x where x.retry_of = r.id)`);
    expect(listed.length).toBe(stats.failedAwaitingAction);
    expect(listed.sort()).toEqual(expected.map((r) => r.id).sort());

    // retried: 'only' lists the runs some run retries; retriedBy names the first retry newer than
    // the run (the run page's retries are those too).
    const retried = await listRuns(t.db, { retried: 'only', limit: 200 });
    const retryOf = await t.db.execute<{ id: string }>(sql`select distinct retry_of as id from runs where retry_of is not null`);
    expect(retried.items.map((r) => r.id).sort()).toEqual(retryOf.map((r) => r.id).sort());
    const first = await t.db.execute<{ id: string; retry: string }>(sql`
      select distinct on (x.retry_of) x.retry_of as id, x.id as retry from runs x join runs r on r.id = x.retry_of
       where x.created_at >= r.created_at order by x.retry_of, x.created_at`);
    expect(retried.items.map((r) => [r.id, r.retriedBy]).sort()).toEqual(
      retryOf.map((r) => [r.id, first.find((f) => f.id === r.id)?.retry ?? null]).sort(),
    );
  });

  it('reads the runs it counts as awaiting action and the hours not sealed, not every run of the week', async () => {
    await sealRunHours(t.db);
    const stats = await overviewStats(t.db, { since, now });
    const captured: { query: string; params: unknown[] }[] = [];
    const logging = drizzle(t.db.$client, {
      schema,
      logger: { logQuery: (query, params) => captured.push({ query, params }) },
    }) as unknown as Database;
    await overviewStats(logging, { since, now });
    expect(captured).toHaveLength(2);
    const [{ week }] = await t.db.execute<{ week: number }>(
      sql`select count(*)::int as week from runs where created_at >= ${iso(firstDay)}::timestamptz`,
    );
    let scanned = 0;
    await t.db.$client.begin(async (c) => {
      // Whether the statements can be answered from their indexes: a few hundred runs make any
      // plan cheap, so sequential scans are ruled out here (the benchmark checks the planner's choice).
      await c.unsafe('set local enable_seqscan = off');
      for (const statement of captured) {
        const [{ 'QUERY PLAN': plan }] = await c.unsafe(`explain (analyze, format json) ${statement.query}`, statement.params as never[]);
        scanned += runsScanned((typeof plan === 'string' ? JSON.parse(plan) : plan)[0].Plan as Record<string, unknown>);
      }
    });
    // The counted runs (an index-only range), the hour or two read live and the active runs; a
    // pass over the week reads all of its runs.
    expect(week).toBeGreaterThan(stats.failedAwaitingAction + 300);
    expect(scanned).toBeLessThan(stats.failedAwaitingAction + 150);
  });
});
