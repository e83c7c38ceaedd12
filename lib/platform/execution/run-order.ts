import { and, asc, eq, inArray, isNotNull, isNull, ne, sql, type SQL } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';
import { runs, type Run } from '../../../db/schema';
import { ACTIVE_RUN_STATUSES } from '../run-status';

/**
 * Runs of an integration take turns, in the order they were requested.
 *
 * - A run never starts while another run of the integration has started and not finished (between
 *   attempts, deferred, interrupted): a cursor-based export would otherwise rebuild batches from a
 *   watermark the other run has partly booked past, under other idempotency keys. A run that has
 *   started already only waits for started runs requested before it, so two started runs never
 *   wait for each other.
 * - A run that has not started waits for every earlier run that has not started either (requested
 *   in an earlier millisecond: created_at), so a later run never overtakes an earlier queued one.
 *   Runs requested in the same millisecond were requested concurrently, and whichever the queue
 *   delivers first goes first: their jobs' order need not follow their ids, and a tie broken by id
 *   deferred the one delivered first behind the other, and every later run of the integration
 *   behind it (a stall of a second each time: issue 18). Held bulk retries (no job yet, released
 *   at their pace) are not in line until released.
 * - Except a retry an operator asked for (trigger 'retry'): it goes ahead of runs that have not
 *   started, and its log says how many it overtook.
 * Dry-runs book nothing: they neither wait nor are waited for.
 *
 * An unfinished run may be of any week, so every query for one also asks `unfinishedSince`: at or
 * after the bound below every unfinished run's created_at (migration 0032, run-floor.ts), which
 * lets PostgreSQL skip the weeks before it instead of probing a year of partitions.
 */

/**
 * `created_at` at or after the bound below every unfinished run (run_active_floor), for a query
 * that looks for unfinished runs: PostgreSQL prunes the weeks before it when the statement runs.
 * A missing row reads as no bound.
 */
export function unfinishedSince(createdAt: SQL | typeof runs.createdAt): SQL {
  return sql`${createdAt} >= coalesce((select f.since from run_active_floor f where f.id = 1), '-infinity'::timestamptz)`;
}

export interface Turn {
  /**
   * The run to wait for, or null when this run may start now; in the usual case (firstTurnJson)
   * also whether it has started and its job. `createdAt` (to the millisecond) names its week.
   */
  waitFor: { id: string; createdAt: Date; nextAttemptAt: Date | null; started?: boolean; jobId?: string | null } | null;
  /** Earlier queued runs this run starts ahead of (an operator's retry). */
  overtaken: number;
}

export async function checkTurn(
  db: DatabaseOrTransaction,
  run: Pick<Run, 'id' | 'integration' | 'trigger' | 'startedAt' | 'dryRun'>,
): Promise<Turn> {
  if (run.dryRun) return { waitFor: null, overtaken: 0 };
  // Started runs wait in a total order (never for each other); runs not started, by the millisecond (above).
  const requestedBefore = sql`(${runs.createdAt}, ${runs.id}) < (select r.created_at, r.id from runs r where r.id = ${run.id})`;
  const requestedEarlier = sql`${runs.createdAt} < (select r.created_at from runs r where r.id = ${run.id})`;
  const others = and(
    eq(runs.integration, run.integration),
    eq(runs.dryRun, false),
    ne(runs.id, run.id),
    inArray(runs.status, ACTIVE_RUN_STATUSES),
    unfinishedSince(runs.createdAt),
  );
  const hasStarted = run.startedAt !== null;
  const waiting = and(others, isNull(runs.startedAt), isNull(runs.hold), requestedEarlier);

  if (!hasStarted && run.trigger !== 'retry') {
    // The usual case (a queued run's first attempt) in one round trip: a started run to wait for
    // comes first, else the earliest run requested before this one.
    const rows = await db.execute<{ id: string; created_at: string | Date; next_attempt_at: string | Date | null; kind: number }>(sql`
      (select ${runs.id} as id, ${runs.createdAt} as created_at, ${runs.nextAttemptAt} as next_attempt_at, 1 as kind from ${runs}
        where ${and(others, isNotNull(runs.startedAt))} order by ${runs.createdAt}, ${runs.id} limit 1)
      union all
      (select ${runs.id}, ${runs.createdAt}, ${runs.nextAttemptAt}, 2 from ${runs}
        where ${waiting} order by ${runs.createdAt}, ${runs.id} limit 1)`);
    const row = [...rows].sort((a, b) => Number(a.kind) - Number(b.kind))[0];
    if (!row) return { waitFor: null, overtaken: 0 };
    return {
      waitFor: {
        id: row.id,
        createdAt: new Date(row.created_at),
        nextAttemptAt: row.next_attempt_at === null ? null : new Date(row.next_attempt_at),
      },
      overtaken: 0,
    };
  }

  const [started] = await db
    .select({ id: runs.id, createdAt: runs.createdAt, nextAttemptAt: runs.nextAttemptAt })
    .from(runs)
    .where(and(others, isNotNull(runs.startedAt), hasStarted ? requestedBefore : undefined))
    .orderBy(asc(runs.createdAt), asc(runs.id))
    .limit(1);
  if (started) return { waitFor: started, overtaken: 0 };
  if (hasStarted) return { waitFor: null, overtaken: 0 };

  // Not started and not the usual case (returned above): an operator's retry, ahead of the waiting runs.
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(runs)
    .where(waiting);
  return { waitFor: null, overtaken: Number(row?.n ?? 0) };
}

/** Whether a run's turn is the usual case `firstTurnJson` answers (a queued run's first start, not a retry, not a dry-run). */
export function isFirstTurn(run: Pick<Run, 'trigger' | 'startedAt' | 'dryRun'>): boolean {
  return !run.dryRun && run.startedAt === null && run.trigger !== 'retry';
}

/**
 * `checkTurn`'s usual case (see isFirstTurn) as one JSON value computed from the `runs` row of the
 * enclosing query, so the runner reads a run and its turn in one round trip: the started run to
 * wait for first, else the earliest run requested before it that has not started; null when the
 * run may start (or for a run outside the usual case: call checkTurn for those).
 */
export function firstTurnJson(): SQL {
  // The statuses written out, not bound: the partial indexes runs_started_turn_idx and
  // runs_waiting_turn_idx (migration 0020) serve these subqueries only when their conditions imply
  // the index predicates, and a prepared statement's generic plan cannot see a bound value.
  const status = sql.raw(ACTIVE_RUN_STATUSES.map((s) => `'${s}'`).join(', '));
  return sql`(case when ${runs.startedAt} is null and ${runs.trigger} <> 'retry' and not ${runs.dryRun} then coalesce(
      (select json_build_object('id', o.id, 'created_at', o.created_at, 'next_attempt_at', o.next_attempt_at, 'started', true, 'job_id', o.job_id) from runs o
        where o.integration = ${runs.integration} and not o.dry_run and o.id <> ${runs.id} and o.status in (${status})
          and o.started_at is not null and ${unfinishedSince(sql`o.created_at`)}
        order by o.created_at, o.id limit 1),
      (select json_build_object('id', o.id, 'created_at', o.created_at, 'next_attempt_at', o.next_attempt_at, 'started', false, 'job_id', o.job_id) from runs o
        where o.integration = ${runs.integration} and not o.dry_run and o.id <> ${runs.id} and o.status in (${status})
          and o.started_at is null and o.hold is null and o.created_at < ${runs.createdAt} and ${unfinishedSince(sql`o.created_at`)}
        order by o.created_at, o.id limit 1)) end)`;
}

/** The Turn of a run in the usual case from `firstTurnJson`'s value. */
export function turnFrom(json: unknown): Turn {
  const row = json as { id: string; created_at: string; next_attempt_at: string | null; started: boolean; job_id: string | null } | null;
  if (!row) return { waitFor: null, overtaken: 0 };
  return {
    waitFor: {
      id: row.id,
      createdAt: new Date(row.created_at),
      nextAttemptAt: row.next_attempt_at === null ? null : new Date(row.next_attempt_at),
      started: row.started,
      jobId: row.job_id,
    },
    overtaken: 0,
  };
}
