import { sql } from 'drizzle-orm';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { ACTIVE_RUN_STATUSES } from '../run-status';

/**
 * The hourly rollup behind the inventory's last-24-hours counts and the Overview's daily counts of
 * the last 7 UTC days (migrations 0017, 0019). An hour (UTC, by the run's created_at) is sealed
 * once it has closed and every non-dry run created in it has a terminal status; terminal statuses
 * never change (a retry is a new run), so the counts written when it is sealed stay equal to a
 * count over runs. listInventory and overviewStats read sealed hours from here and everything else
 * (the current hour, a partial hour at the start of their window, hours not sealed yet) live from
 * runs, in one statement: one snapshot, so a run is counted once, in the rollup or live.
 *
 * Nothing is written per run: the worker's maintenance loop calls sealRunHours every few minutes.
 */

/** How far back hours are sealed: the Overview reads from 00:00 UTC six days before today (up to 7 days ago), plus a day of margin. */
export const ROLLUP_SEAL_HOURS = 8 * 24;
/** How long sealed hours are kept: a day past the sealing window, which is all anything reads. */
export const ROLLUP_KEEP_HOURS = 9 * 24;
/**
 * An hour is sealed this long after it closed at the earliest, and never while a transaction that
 * began before it closed is still open: created_at is the inserting transaction's start time, so a
 * run committed late by such a transaction would belong to the sealed hour without being counted.
 */
export const SEAL_MARGIN_SECONDS = 300;
const ROLLUP_LOCK = 727277;

/** Seals the closed, finished hours of the last ROLLUP_SEAL_HOURS not sealed yet; drops hours past ROLLUP_KEEP_HOURS. */
export async function sealRunHours(db: Database): Promise<{ sealed: number; dropped: number }> {
  return db.transaction(async (tx) => {
    // One sealer at a time across worker processes (a second one waits and finds nothing to do).
    await tx.execute(sql`select pg_advisory_xact_lock(${ROLLUP_LOCK})`);
    const [row] = await tx.execute<{ sealed: number; dropped: number }>(sql`
      with bound as (
        -- Hours ending at or before this are closed for good (see SEAL_MARGIN_SECONDS).
        select least(now() - make_interval(secs => ${SEAL_MARGIN_SECONDS}),
                     coalesce((select min(a.xact_start) from pg_stat_activity a
                                where a.datname = current_database() and a.pid <> pg_backend_pid()
                                  and a.backend_type = 'client backend'), 'infinity')) as before
      ),
      candidates as (
        select h as hour
          from bound, generate_series(date_trunc('hour', now() - make_interval(hours => ${ROLLUP_SEAL_HOURS}), 'UTC'),
                                      bound.before - interval '1 hour', interval '1 hour') h
         where not exists (select from run_rollup_hours s where s.hour = h)
           -- runs_status_created_idx: one short range per active status.
           and not exists (select from runs r
                            where r.status in (${sql.join(
                              ACTIVE_RUN_STATUSES.map((s) => sql`${s}`),
                              sql`, `,
                            )})
                              and r.created_at >= h and r.created_at < h + interval '1 hour' and not r.dry_run)
      ),
      sealed as (
        insert into run_rollup_hours (hour) select hour from candidates on conflict do nothing returning hour
      ),
      counted as (
        insert into run_rollup_counts (hour, integration, finished, succeeded)
        select s.hour, r.integration,
               count(*) filter (where r.status in ('succeeded', 'failed')),
               count(*) filter (where r.status = 'succeeded')
          from sealed s
          join runs r on r.created_at >= s.hour and r.created_at < s.hour + interval '1 hour'
         where not r.dry_run
         group by s.hour, r.integration
        returning 1
      ),
      dropped as (
        delete from run_rollup_hours where hour < now() - make_interval(hours => ${ROLLUP_KEEP_HOURS}) returning 1
      )
      select (select count(*) from sealed)::int as sealed, (select count(*) from dropped)::int as dropped,
             (select count(*) from counted)::int as counted`);
    return { sealed: row.sealed, dropped: row.dropped };
  });
}

/**
 * Forgets the sealed hours that retention may have thinned (any that starts before `olderThan`):
 * pruneRuns calls it with its cutoff, so the rollup never counts a run that no longer exists.
 */
export async function forgetRunHoursBefore(db: Database, olderThan: Date): Promise<number> {
  const rows = await db.execute(sql`delete from run_rollup_hours where hour < ${olderThan.toISOString()}::timestamptz returning 1`);
  return rows.length;
}

/**
 * For a transaction that writes runs with a created_at in the past (the demo seed, a backfill):
 * forgets every sealed hour and holds the sealer off until that transaction ends, so the hours it
 * writes into are sealed again, with its runs, by the next round.
 */
export async function reopenRunHours(tx: DatabaseOrTransaction): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${ROLLUP_LOCK})`);
  await tx.execute(sql`delete from run_rollup_hours`);
}
