import { sql } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';
import { PermanentError } from '../errors';

/**
 * Late-commit-safe change capture: the upper bound of a "rows changed since the watermark" read
 * that never skips a row whose transaction commits after the watermark moved.
 *
 * The problem: a reader that pages by (updated_at, id) and moves its watermark to the last row it
 * saw skips any row written with an EARLIER updated_at by a transaction that was still open while
 * it read (that row was invisible then, and lies below the watermark once it commits).
 *
 * The bound: `before` = the least of `notAfter` (the run's creation, so a run has a fixed end) and
 * the start (`xact_start`) of the oldest transaction still open in this database, minus `slackMs`.
 * Read rows with `updated_at < before` (strictly). Guarantee: every row with `updated_at < before`
 * is visible to a read that starts after the bound was taken, so the watermark never passes a row
 * that is not yet visible. Why: `now()` in a transaction is its start time, so a row written with
 * `updated_at = now()` carries its transaction's `xact_start`; a transaction that started before
 * `before` and was still open would have made `before` no later than its start, so every such
 * transaction had committed (or rolled back) when the bound was taken. Rows with a later
 * `updated_at` are read by a later run, whose bound is never lower.
 *
 * Assumptions (see README, "Writing an integration that moves data exactly once"):
 * - `updated_at` is set by `now()` (or `transaction_timestamp()`) in the writing transaction, e.g.
 *   a default plus `set updated_at = now()` on update. A timestamp the application computes is
 *   covered only up to `slackMs` of difference from the transaction's start (clock skew, a value
 *   taken before `begin`); an older one can still be skipped.
 * - The reading role sees every other session's transaction start: superuser, the table owner's
 *   sessions only, or `GRANT pg_read_all_stats TO <role>`. A session of another role that is inside
 *   a transaction and whose start is hidden makes the bound unknowable: that is refused with a
 *   PermanentError saying which grant is missing, never guessed.
 * - Prepared (two-phase) transactions carry no start time: while one is pending in this database
 *   the bound is refused with a transient error (the next attempt tries again).
 * - Between a transaction taking its start time and announcing it (microseconds inside PostgreSQL)
 *   it cannot be seen; `notAfter` (the run's creation, earlier than any attempt's start by at least
 *   the queue's pick-up) covers that window in practice, and `slackMs` covers it by construction.
 *
 * Cost: one query on pg_stat_activity per call. A transaction left open (an `idle in transaction`
 * session, a long report) holds every export back to its start until it ends; the caller is told
 * who (`heldBack`) so the run log can name it.
 */

export interface CaptureBoundOptions {
  /** Upper limit of the bound (usually the run's creation). */
  notAfter: Date;
  /** Subtracted from the bound: covers application-set timestamps and clock skew. Default 0. */
  slackMs?: number;
  /** Named in errors. */
  integration: string;
}

export interface CaptureBound {
  /** Exclusive upper bound for `updated_at`, ISO 8601 with microseconds (UTC). Read `updated_at < before`. */
  before: string;
  /** Set when an open transaction, not `notAfter`, decided the bound. */
  heldBack?: { pid: number; applicationName: string; state: string; xactStart: string; behindMs: number };
}

type BoundRow = {
  before: string;
  held_pid: number | null;
  held_application: string | null;
  held_state: string | null;
  held_xact_start: string | null;
  behind_ms: number | null;
  hidden_in_transaction: number;
  prepared: number;
  reader: string;
};

const ISO_US = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

/** The bound for a read of changes, taken now (see the module comment for the guarantee). */
export async function changeCaptureBound(db: DatabaseOrTransaction, options: CaptureBoundOptions): Promise<CaptureBound> {
  const slackMs = options.slackMs ?? 0;
  if (!Number.isFinite(slackMs) || slackMs < 0)
    throw new PermanentError(`Change capture slack for '${options.integration}' must be 0 or more milliseconds (got ${slackMs})`);
  const [row] = await db.execute<BoundRow>(sql`
    with open as (
      select a.pid, a.application_name, a.state, a.xact_start
        from pg_stat_activity a
       where a.datname = current_database() and a.pid <> pg_backend_pid() and a.xact_start is not null
         and a.backend_type not in ('autovacuum worker', 'autovacuum launcher')
       order by a.xact_start
       limit 1
    ), limits as (
      select least(${options.notAfter.toISOString()}::timestamptz, (select xact_start from open)) - make_interval(secs => ${slackMs / 1000}) as bound
    )
    select to_char((select bound from limits) at time zone 'UTC', ${sql.raw(ISO_US)}) as before,
           o.pid as held_pid, o.application_name as held_application, o.state as held_state,
           to_char(o.xact_start at time zone 'UTC', ${sql.raw(ISO_US)}) as held_xact_start,
           (extract(epoch from (${options.notAfter.toISOString()}::timestamptz - o.xact_start)) * 1000)::float8 as behind_ms,
           (select count(*)::int from pg_stat_activity h
             where h.datname = current_database() and h.pid <> pg_backend_pid() and h.usesysid is not null
               and h.query = '<insufficient privilege>'
               and exists (select 1 from pg_locks l where l.pid = h.pid and l.locktype = 'virtualxid' and l.granted)) as hidden_in_transaction,
           (select count(*)::int from pg_prepared_xacts p where p.database = current_database()) as prepared,
           current_user as reader
      from (select 1) one left join open o on o.xact_start < ${options.notAfter.toISOString()}::timestamptz`);
  if (row.hidden_in_transaction > 0) {
    throw new PermanentError(
      `Change capture for '${options.integration}' cannot see when ${row.hidden_in_transaction} other session(s) in this database started their open transaction ` +
        `(role '${row.reader}' may not read other roles' activity), so rows they commit later could be skipped. ` +
        `Grant it: GRANT pg_read_all_stats TO "${row.reader}"; then retry the run.`,
    );
  }
  if (row.prepared > 0) {
    throw new Error(
      `Change capture for '${options.integration}' is waiting: ${row.prepared} prepared (two-phase) transaction(s) are pending in this database and their start is unknown; ` +
        'the next attempt tries again once they are committed or rolled back',
    );
  }
  const bound: CaptureBound = { before: row.before };
  if (row.held_pid !== null) {
    bound.heldBack = {
      pid: row.held_pid,
      applicationName: row.held_application ?? '',
      state: row.held_state ?? '',
      xactStart: row.held_xact_start!,
      behindMs: Math.max(0, Math.round(row.behind_ms ?? 0)),
    };
  }
  return bound;
}
