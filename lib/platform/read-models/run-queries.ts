import { and, eq, getTableColumns, gte, inArray, isNotNull, isNull, lte, sql, type Column, type SQL } from 'drizzle-orm';
import type { PreparedQueryConfig } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import type { DatabaseOrTransaction } from '../../../db/client';
import { attemptLogBatches, attempts, runs, runStatusEnum, runTriggerEnum, type Attempt, type Run } from '../../../db/schema';
import { attemptLogLines, type AttemptLogBatch, type LogGap, type StoredLogLine } from '../log';
import { INSTANT_FORMAT, ZInstant, ZTimeIdCursor, ZUrlText, ZUrlWholeNumber } from '../params';
import { ACTIVE_RUN_STATUSES } from '../run-status';
import { exactTime } from '../when';

/**
 * Why a time range cannot match anything: To before From. Said, not answered with an empty list
 * that reads as "no run in that range". Null when the range is open or in order (From = To is one
 * instant, a range of its own).
 */
export function reversedTimeRange(from: Date | undefined, to: Date | undefined): string | null {
  if (!from || !to || from.getTime() <= to.getTime()) return null;
  return `To (${exactTime(to)}) is before From (${exactTime(from)}): the time range is reversed. Swap the two times.`;
}

/** Filters of the runs list, shared by the page's search params and the JSON API. */
export const ZRunFilter = z
  .object({
    integration: ZUrlText(100)
      // Empty is refused like every other parameter's empty value, not read as "every integration".
      .min(1, 'is empty: name an integration, or leave integration out for every one')
      .optional()
      .meta({
        description: 'The name of an integration (as GET /api/integrations lists them); one that does not exist is refused with 400.',
      }),
    /** One status, or `active`: any of queued, running, retrying and deferred (what the Overview counts as active). */
    status: z
      .enum([...runStatusEnum.enumValues, 'active'])
      .optional()
      .meta({ description: `A run status, or \`active\` for any of ${ACTIVE_RUN_STATUSES.join(', ')}.` }),
    trigger: z.enum(runTriggerEnum.enumValues).optional(),
    dryRun: z.enum(['only', 'exclude']).optional(),
    /** `exclude`: only runs nobody has retried yet (what the Overview counts as awaiting action). */
    retried: z.enum(['exclude', 'only']).optional(),
    /** The retries of one bulk retry (the console's bulk retry card links here, e.g. to its failed ones). */
    bulk: z.string().uuid('must be a bulk retry id').optional().meta({ description: 'The runs one bulk retry started (its id).' }),
    from: ZInstant.optional().meta({ description: `Runs created at or after this time. ${INSTANT_FORMAT}` }),
    to: ZInstant.optional().meta({
      description: `Runs created at or before this time; not before \`from\` (a reversed range is refused with a 400). ${INSTANT_FORMAT}`,
    }),
    /** Keyset cursor: `<createdAt ISO>|<id>` of the last row of the previous page. */
    after: ZTimeIdCursor('run').optional(),
    limit: ZUrlWholeNumber(1, 200).default(50),
  })
  .superRefine((filter, ctx) => {
    const reversed = reversedTimeRange(filter.from, filter.to);
    if (reversed) ctx.addIssue({ code: 'custom', path: ['to'], message: reversed });
  });
export type TRunFilter = z.input<typeof ZRunFilter>;

export type RunListItem = Pick<
  Run,
  | 'id'
  | 'integration'
  | 'trigger'
  | 'dryRun'
  | 'status'
  | 'triggeredBy'
  | 'retryOf'
  | 'attemptCount'
  | 'maxAttempts'
  | 'progressDone'
  | 'progressTotal'
  | 'errorMessage'
  | 'nextAttemptAt'
  | 'createdAt'
  | 'startedAt'
  | 'finishedAt'
  | 'hold'
  | 'bulkOperationId'
> & { retriedBy: string | null };

export function runCursor(row: { createdAt: Date; id: string }): string {
  return `${row.createdAt.toISOString()}|${row.id}`;
}

/** Newest first, keyset-paginated on (created_at, id): constant time at any depth. */
export async function listRuns(db: DatabaseOrTransaction, input: TRunFilter = {}): Promise<{ items: RunListItem[]; next: string | null }> {
  return queryRuns(db, ZRunFilter.parse(input));
}

export type RunFilter = z.output<typeof ZRunFilter>;

/**
 * The WHERE conditions of a runs list filter, all but its `after` cursor and `limit`: what the
 * list shows, and what "Retry all matching" (retryRuns with a filter) retries.
 */
export function runFilterConditions(f: Omit<RunFilter, 'after' | 'limit'>): SQL[] {
  const where: SQL[] = [];
  if (f.integration) where.push(eq(runs.integration, f.integration));
  if (f.status === 'active') where.push(inArray(runs.status, [...ACTIVE_RUN_STATUSES]));
  else if (f.status) where.push(eq(runs.status, f.status));
  if (f.trigger) where.push(eq(runs.trigger, f.trigger));
  if (f.dryRun === 'only') where.push(eq(runs.dryRun, true));
  if (f.dryRun === 'exclude') where.push(eq(runs.dryRun, false));
  if (f.from) where.push(gte(runs.createdAt, f.from));
  if (f.to) where.push(lte(runs.createdAt, f.to));
  // retried_at: set on a run when it is first retried (migration 0019), instead of a probe per row.
  if (f.retried === 'exclude') where.push(isNull(runs.retriedAt));
  if (f.retried === 'only') where.push(isNotNull(runs.retriedAt));
  if (f.bulk) where.push(eq(runs.bulkOperationId, f.bulk));
  return where;
}

/** listRuns for a filter ZRunFilter has already parsed (the route handler's input). */
export async function queryRuns(db: DatabaseOrTransaction, f: RunFilter): Promise<{ items: RunListItem[]; next: string | null }> {
  const where = runFilterConditions(f);
  if (f.after) {
    const { at, id } = f.after;
    // A JS Date keeps milliseconds, created_at microseconds: take the cursor row's exact time by id,
    // and compare as a row so PostgreSQL uses it as an index bound.
    const cursorAt = sql`coalesce((select c.created_at from runs c where c.id = ${id}::uuid), ${at.toISOString()}::timestamptz)`;
    where.push(sql`(${runs.createdAt}, ${runs.id}) < (${cursorAt}, ${id}::uuid)`);
  }
  const rows = await db
    .select({
      id: runs.id,
      integration: runs.integration,
      trigger: runs.trigger,
      dryRun: runs.dryRun,
      status: runs.status,
      triggeredBy: runs.triggeredBy,
      retryOf: runs.retryOf,
      attemptCount: runs.attemptCount,
      maxAttempts: runs.maxAttempts,
      progressDone: runs.progressDone,
      progressTotal: runs.progressTotal,
      errorMessage: runs.errorMessage,
      nextAttemptAt: runs.nextAttemptAt,
      createdAt: runs.createdAt,
      startedAt: runs.startedAt,
      finishedAt: runs.finishedAt,
      hold: runs.hold,
      bulkOperationId: runs.bulkOperationId,
      // Looked up for retried runs only, and a retry is newer than its run: the older weeks are skipped.
      retriedBy: sql<string | null>`case when "runs"."retried_at" is not null then (
        select r2.id from runs r2 where r2.retry_of = "runs"."id" and r2.created_at >= "runs"."created_at"
         order by r2.created_at limit 1) end`,
    })
    .from(runs)
    .where(where.length ? and(...where) : undefined)
    // NULLS LAST to match the indexes' order: PostgreSQL then reads the index instead of sorting.
    .orderBy(sql`${runs.createdAt} desc nulls last`, sql`${runs.id} desc nulls last`)
    .limit(f.limit + 1);
  const items = rows.slice(0, f.limit);
  return { items, next: rows.length > f.limit ? runCursor(items[items.length - 1]) : null };
}

/** Which runs a bulk retry by filter takes: the runs list's filter, on failed or cancelled runs. */
export type RetryableRunFilter = Omit<RunFilter, 'after' | 'limit' | 'status' | 'retried'> & {
  status: 'failed' | 'cancelled';
};

/**
 * The runs a bulk retry by filter retries: those the list shows for `f` that nobody retried yet
 * (retried_at, migration 0019), of integrations still registered. Shared by retryRuns and
 * countRetryableRuns, so the count the Runs page offers is what the retry then takes.
 */
export function retryableRunConditions(f: RetryableRunFilter): SQL[] {
  return [
    ...runFilterConditions(f),
    isNull(runs.retriedAt),
    sql`exists (select 1 from integrations i where i.name = ${runs.integration} and i.registered)`,
  ];
}

/**
 * How many runs a bulk retry by `f` would take, counted up to `cap` (pass BULK_LIMIT + 1 to say
 * "more than BULK_LIMIT"): the limit inside the subquery stops the scan there. In the list's order
 * (newest first, NULLS LAST as in the indexes) so PostgreSQL reads the weeks' indexes newest first
 * and stops at `cap`: unordered, it chose to read every week's failed runs in parallel bitmap scans
 * (124 ms at 10 M runs; bench/README.md §4).
 */
export async function countRetryableRuns(db: DatabaseOrTransaction, f: RetryableRunFilter, cap: number): Promise<number> {
  const matching = db
    .select({ one: sql`1` })
    .from(runs)
    .where(and(...retryableRunConditions(f)))
    .orderBy(sql`${runs.createdAt} desc nulls last`, sql`${runs.id} desc nulls last`)
    .limit(cap)
    .as('matching');
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(matching);
  return row.n;
}

/** Live status of a few runs, for the console's polling of running work. */
export async function runStatuses(db: DatabaseOrTransaction, params: { ids: string[] }) {
  if (params.ids.length === 0) return [];
  return db
    .select({
      id: runs.id,
      status: runs.status,
      attemptCount: runs.attemptCount,
      progressDone: runs.progressDone,
      progressTotal: runs.progressTotal,
      nextAttemptAt: runs.nextAttemptAt,
      finishedAt: runs.finishedAt,
      errorMessage: runs.errorMessage,
      hold: runs.hold,
    })
    .from(runs)
    .where(inArray(runs.id, params.ids.slice(0, 200)));
}

export interface RunDetail {
  run: Run;
  /** logGap: where the attempt's log passed its cap, and the lines not kept there. */
  attempts: (Attempt & { logs: StoredLogLine[]; logGap?: LogGap })[];
  retries: Pick<Run, 'id' | 'status' | 'createdAt' | 'triggeredBy'>[];
}

const RUN_COLUMNS = getTableColumns(runs);
const ATTEMPT_COLUMNS = getTableColumns(attempts);
const LOG_BATCH_COLUMNS = getTableColumns(attemptLogBatches);
/** The columns of a retry on the run page. */
const RETRY_COLUMNS = { id: runs.id, status: runs.status, createdAt: runs.createdAt, triggeredBy: runs.triggeredBy };

/**
 * getRunDetail's one statement ($1: the run's id, $2: the log limit): one row (none when no run has
 * the id) of JSON, the run, its attempts by number, their log rows in id order and the runs that
 * retried it. Rows go out whole (to_json) and are decoded by the Drizzle columns, so a column added
 * to runs, attempts or attempt_log_batches reaches the page without a change here.
 *
 * The run is found by id alone (not the partition key): each week's index is probed in turn, up to
 * the week that holds it. Its created_at then bounds the rest to one week (attempts and logs) or to
 * the weeks from it on (its retries, created after it): PostgreSQL prunes the other partitions as
 * it executes. The run and its attempts are CTEs, read once: the other parts refer to them (the
 * run as a plain `from runs` would put every part's subplans under each week's scan of runs).
 * Of the log rows only those that can add a line come back: the rows that start before `$2` lines
 * in all (counting every earlier row of the run's attempts, in id order) and the rows of capped
 * attempts that say what was not kept; attemptLogLines applies the same limit to them.
 */
export const RUN_DETAIL_SQL = `
  with r as materialized (select * from runs where id = $1::uuid limit 1),
       a as materialized (select * from attempts where run_id = (select id from r) and run_created_at = (select created_at from r))
  select to_json(r) as run,
         (select coalesce(json_agg(a order by a.number), '[]') from a) as attempts,
         (select coalesce(json_agg(l.batch order by l.id), '[]')
            from (select b as batch, b.id, b.dropped,
                         coalesce(sum(cardinality(b.messages)) over (order by b.id rows between unbounded preceding and 1 preceding), 0) as lines_before
                    from attempt_log_batches b
                   where b.run_created_at = r.created_at and b.attempt_id = any(array(select a.id from a))) l
           where l.lines_before < $2::int or l.dropped is not null) as logs,
         (select coalesce(json_agg(json_build_object(${Object.values(RETRY_COLUMNS)
           .map((c) => `'${c.name}', x.${c.name}`)
           .join(', ')}) order by x.created_at), '[]')
            from runs x where x.retry_of = r.id and x.created_at >= r.created_at) as retries
    from r`;

type JsonRow = Record<string, unknown>;

interface RunDetailRow {
  run: JsonRow;
  attempts: JsonRow[];
  logs: JsonRow[];
  retries: JsonRow[];
}

/**
 * A row PostgreSQL sent as JSON (to_json: numbers, booleans, strings, nested JSON; times in ISO
 * 8601), decoded by the columns of its table as a `select()` decodes the row: under the columns'
 * names in TypeScript, with the same types (Dates, numbers, parsed jsonb).
 */
function fromJson<T>(columns: Record<string, Column>, json: JsonRow): T {
  const row: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(columns)) {
    const value = json[column.name];
    // json and jsonb arrive parsed already: their decoder would parse a JSON string value again
    // (an input "123" would become the number 123).
    row[key] = value === null || value === undefined ? null : column.dataType === 'json' ? value : column.mapFromDriverValue(value);
  }
  return row as T;
}

/**
 * A run with its attempts (oldest first), each attempt's logs (at most logLimit lines in all,
 * oldest first; each attempt keeps at most RUN_LOG_MAX_LINES) and the runs that retried it: one
 * round trip (RUN_DETAIL_SQL), sent as a named prepared statement on the connection of `db` (the
 * pool's or the transaction's), so each connection parses and plans it once.
 */
export async function getRunDetail(db: DatabaseOrTransaction, params: { id: string; logLimit?: number }): Promise<RunDetail | null> {
  if (!z.string().uuid().safeParse(params.id).success) return null;
  const limit = params.logLimit ?? 2000;
  // A name makes Drizzle's postgres.js session send it with `prepare: true`: postgres.js keeps the
  // statement per connection, by its text, and reuses it.
  const statement = db._.session.prepareQuery<PreparedQueryConfig & { execute: RunDetailRow[] }>(
    { sql: RUN_DETAIL_SQL, params: [params.id, limit] },
    undefined,
    'run_detail',
    false,
  );
  const [row] = await statement.execute();
  if (!row) return null;
  const logs = attemptLogLines(
    row.logs.map((json) => fromJson<AttemptLogBatch>(LOG_BATCH_COLUMNS, json)),
    limit,
  );
  return {
    run: fromJson<Run>(RUN_COLUMNS, row.run),
    attempts: row.attempts.map((json) => {
      const attempt = fromJson<Attempt>(ATTEMPT_COLUMNS, json);
      return { ...attempt, logs: logs.get(attempt.id)?.lines ?? [], logGap: logs.get(attempt.id)?.gap };
    }),
    retries: row.retries.map((json) => fromJson<RunDetail['retries'][number]>(RETRY_COLUMNS, json)),
  };
}

export interface OverviewStats {
  failedAwaitingAction: number;
  undeliveredIncidents: number;
  running: number;
  /** Per integration and day (UTC), finished non-dry runs and how many succeeded, last OVERVIEW_DAYS days. */
  daily: { integration: string; day: string; finished: number; succeeded: number }[];
}

/** Failed runs count as awaiting action for this long after they were created. */
export const AWAITING_ACTION_WINDOW_MS = 7 * 86_400_000;

/**
 * Where "awaiting action" starts counting at `now`: AWAITING_ACTION_WINDOW_MS back, to the start of
 * that hour. On the hour, so a link to the list (awaitingActionFilter) reads the same for an hour:
 * a live page's fingerprint holding it does not change at every poll.
 */
export function awaitingActionSince(now: Date): Date {
  const since = now.getTime() - AWAITING_ACTION_WINDOW_MS;
  return new Date(since - (since % 3_600_000));
}
/** The Overview's daily counts cover this many UTC days, today included. */
export const OVERVIEW_DAYS = 7;

/**
 * The Runs list that shows exactly the runs `failedAwaitingAction` counts (the Overview links to
 * it): failed, not dry-runs, nobody retried them yet, created since `since`.
 */
export function awaitingActionFilter(since: Date) {
  return { status: 'failed', dryRun: 'exclude', retried: 'exclude', from: since.toISOString() } as const;
}

/**
 * `since` bounds "failed runs awaiting action" (default: 7 days before `now`); pass the same value
 * to awaitingActionFilter for the list the count links to. `now` (default: this process's clock)
 * sets the UTC days of `daily`: pass the instant the page labels its days with (lastDays).
 *
 * Every time bound reaches the statements as a constant, as in listInventory: the planner then
 * plans only the weekly partitions they can touch. The awaiting-action count is one range of
 * runs_awaiting_action_idx (migration 0019); the daily counts come from the hourly rollup
 * (run-rollup.ts) plus the hours it does not cover, read live, in one statement.
 */
export async function overviewStats(db: DatabaseOrTransaction, params: { since?: Date; now?: Date } = {}): Promise<OverviewStats> {
  const now = params.now ?? new Date();
  const since = (params.since ?? awaitingActionSince(now)).toISOString();
  const at = now.toISOString();
  // No run is created after the page asked (created_at is its inserting transaction's start): a
  // day of slack keeps the weeks ahead out of the plan without relying on the exact moment, or on
  // this clock agreeing with the database's to the second.
  const ahead = new Date(now.getTime() + 86_400_000).toISOString();
  // 00:00 UTC of the first day shown: on the hour, so the rollup covers the window's start whole.
  const firstDay = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (OVERVIEW_DAYS - 1))).toISOString();
  const [[counts], daily] = await Promise.all([
    db.execute<{ failed: number; undelivered: number; running: number }>(sql`
      select
        (select count(*) from runs r
          where r.status = 'failed' and not r.dry_run and r.retried_at is null
            and r.created_at >= ${since}::timestamptz and r.created_at < ${ahead}::timestamptz)::int as failed,
        (select count(*) from incidents i where i.undelivered)::int as undelivered,
        (select count(*) from runs r
          where r.status in (${sql.join(
            ACTIVE_RUN_STATUSES.map((s) => sql`${s}`),
            sql`, `,
          )}))::int as running`),
    // Finished runs per integration and UTC day since firstDay: the sealed hours from the rollup,
    // the rest (the current hour, any hour not sealed yet) live from runs_created_idx. One
    // statement, one snapshot: a run is counted once, in its sealed hour or live.
    db.execute<{ integration: string; day: string; finished: number; succeeded: number }>(sql`
      select c.integration, c.day, sum(c.finished)::int as finished, sum(c.succeeded)::int as succeeded
        from (
          select rc.integration, to_char(rc.hour at time zone 'UTC', 'YYYY-MM-DD') as day, rc.finished, rc.succeeded
            from run_rollup_counts rc
           where rc.hour >= ${firstDay}::timestamptz and rc.hour < date_trunc('hour', ${at}::timestamptz, 'UTC')
          union all
          select r.integration, to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD'),
                 count(*) filter (where r.status in ('succeeded', 'failed')),
                 count(*) filter (where r.status = 'succeeded')
            from run_rollup_open_ranges(${firstDay}::timestamptz, ${at}::timestamptz) live
            -- One index range per open range, whatever the statistics say: OFFSET 0 keeps the
            -- subquery from being flattened into a join the planner may answer by reading the
            -- whole window once and filtering it (with stale or no statistics on a new week).
            cross join lateral (
              select r.integration, r.created_at, r.status from runs r
               where r.created_at >= live.lo and r.created_at < live.hi
                 and r.created_at >= ${firstDay}::timestamptz and r.created_at < ${ahead}::timestamptz and not r.dry_run
              offset 0) r
           group by 1, 2) c
       group by 1, 2 order by 1, 2`),
  ]);
  return { failedAwaitingAction: counts.failed, undeliveredIncidents: counts.undelivered, running: counts.running, daily: [...daily] };
}
