import { and, asc, eq, gte, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { Database, DatabaseOrTransaction } from '../db/client';
import * as schema from '../db/schema';
import { ensureRunPartitions } from '../lib/platform/execution/retention';
import { appendAudit, auditChainStatus, changesSince, verifyAuditChain } from '../lib/platform/governance/audit';
import { readAttemptLogs } from '../lib/platform/log';
import { listInventory } from '../lib/platform/read-models/inventory';
import {
  AWAITING_ACTION_WINDOW_MS,
  awaitingActionSince,
  countRetryableRuns,
  getRunDetail,
  listRuns,
  overviewStats,
  RUN_DETAIL_SQL,
  runCursor,
  type RetryableRunFilter,
  type RunDetail,
} from '../lib/platform/read-models/run-queries';
import { sealRunHours } from '../lib/platform/read-models/run-rollup';
import { buildRegistry, syncRegistry } from '../lib/platform/registry';
import { BULK_LIMIT } from '../lib/platform/triggers/bulk';
import { createBenchDatabase, median, percentile, table, type BenchContext } from './lib';
import { noopIntegrations } from './noop-integrations';
import type { BenchResult } from './run';

/**
 * Benchmark 4, console at volume: runs, attempts and audit rows generated in bulk, then the p50/p95
 * time of the queries behind the inventory, the runs list filtered to failed (first page and a
 * deep keyset page), run detail and "audit, last 24 h", each called through the same lib/platform
 * function the page calls (time measured in Node: query plus round trip plus row decoding). The
 * EXPLAIN (ANALYZE, BUFFERS) of each statement is printed for bench/README.md.
 */

export const CONSOLE_SIZES = {
  tiny: { runs: 10_000, attemptsPerRun: 3, audit: 10_000, integrations: 20, samples: 10, days: 30 },
  full: { runs: 1_000_000, attemptsPerRun: 3, audit: 1_000_000, integrations: 20, samples: 100, days: 30 },
  // Issue 18: a retention period's worth of runs (90 days: 13 weekly partitions, plus the weeks
  // ahead and the DEFAULT one, that a lookup by id alone must probe). BENCH_HUGE_RUNS overrides the
  // number of runs, to measure a smaller size when the machine cannot generate the whole.
  huge: {
    runs: Number(process.env.BENCH_HUGE_RUNS ?? 10_000_000),
    attemptsPerRun: 3,
    audit: 1_000_000,
    integrations: 20,
    samples: 100,
    days: 90,
  },
} as const;

const GOAL_MS = 50;
const CHUNK = 250_000;

export async function generate(db: Database, size: (typeof CONSOLE_SIZES)[keyof typeof CONSOLE_SIZES]): Promise<number> {
  const started = performance.now();
  // One more integration than run: the inventory always lists some that never ran (new) or stopped
  // long ago (paused, orphaned), and their last-run lookup is the one a bad plan makes slow.
  await syncRegistry(db, { registry: buildRegistry(noopIntegrations(size.integrations + 1)) });
  // Runs evenly over the period (newest = now; every ~2.6 s at full, ~0.8 s at huge), 1 in 20
  // failed; 3 attempts each. Loaded a week at a time the way a bulk load is done: the week's runs
  // and attempts go into plain tables without indexes or foreign keys (set-based, chunk by chunk,
  // in one transaction with synchronous_commit off), which are then ATTACHed as the week's
  // partitions: PostgreSQL builds every index of the parent on them in one sorted pass, checks the
  // partition bound and validates the attempts' foreign key in one join, instead of maintaining 8
  // indexes and an FK lookup per row. The result is the same tables, indexes and constraints as
  // production (logged, attached partitions; no index or constraint is left out).
  const [{ t0 }] = await db.execute<{ t0: string }>(sql`select now()::text as t0`);
  const spacing = (size.days * 86_400) / size.runs;
  const t0Ms = new Date(t0).getTime();
  const [{ first }] = await db.execute<{ first: string }>(
    sql`select run_partition_week(${t0}::timestamptz - make_interval(secs => ${(size.runs - 1) * spacing}::float8))::text as first`,
  );
  for (let week = new Date(first).getTime(); week <= t0Ms; week += 7 * 86_400_000) {
    const weekStarted = performance.now();
    const from = new Date(week).toISOString();
    const to = new Date(week + 7 * 86_400_000).toISOString();
    const suffix = from.slice(0, 10).replace(/-/g, '');
    // Runs g of this week: created_at = t0 - g * spacing in [from, to) (one run either side, filtered).
    const gLow = Math.max(0, Math.floor((t0Ms - (week + 7 * 86_400_000)) / 1000 / spacing) - 1);
    const gHigh = Math.min(size.runs - 1, Math.ceil((t0Ms - week) / 1000 / spacing) + 1);
    await db.transaction(async (tx) => {
      await tx.execute(sql`set local synchronous_commit = off`);
      await tx.execute(sql`set local maintenance_work_mem = '512MB'`);
      // migrate created the weeks around now: replace them by loaded ones when empty. A week that
      // already holds runs (benchmark 6 adds these runs to the demo's) is loaded in place instead.
      const [exists] = await tx.execute<{ attached: boolean }>(sql`select to_regclass(${`runs_w${suffix}`}) is not null as attached`);
      let inPlace = false;
      if (exists.attached) {
        const [held] = await tx.execute<{ rows: boolean }>(sql`select exists (select from ${sql.raw(`runs_w${suffix}`)}) as rows`);
        inPlace = held.rows;
      }
      if (!inPlace) {
        if (exists.attached)
          for (const table of ['attempt_log_batches', 'attempts', 'runs']) {
            await tx.execute(sql.raw(`alter table ${table} detach partition ${table}_w${suffix}`));
            await tx.execute(sql.raw(`drop table ${table}_w${suffix}`));
          }
        await tx.execute(sql.raw(`create table runs_w${suffix} (like runs including defaults)`));
        await tx.execute(sql.raw(`create table attempts_w${suffix} (like attempts including defaults)`));
      }
      const runsTable = sql.raw(inPlace ? 'runs' : `runs_w${suffix}`);
      const attemptsTable = sql.raw(inPlace ? 'attempts' : `attempts_w${suffix}`);
      for (let lo = gLow; lo <= gHigh; lo += CHUNK) {
        const hi = Math.min(gHigh, lo + CHUNK - 1);
        await tx.execute(sql`
          with r as (
            insert into ${runsTable} (id, integration, trigger, status, triggered_by, correlation_id, max_attempts,
                                                     attempt_count, created_at, started_at, finished_at, error_message, result)
            select gen_random_uuid(), 'bench-noop-' || (g % ${size.integrations}), 'schedule',
                   (case when failed then 'failed' else 'succeeded' end)::run_status, 'schedule', md5(g::text), 3,
                   (case when failed then 3 else 1 end),
                   at, at + interval '0.5 seconds', at + interval '2 seconds',
                   case when failed then 'accounting API answered 503 three times' end,
                   case when not failed then '{"processed": 100}'::jsonb end
              from (select g, (${t0}::timestamptz - make_interval(secs => g * ${spacing}::float8))::timestamptz(3) as at,
                           -- 1 in 20 of every integration's runs (not all of one integration's).
                           (g / ${size.integrations}::int) % 20 = 0 as failed
                      from generate_series(${lo}::int, ${hi}::int) g) s
             where at >= ${from}::timestamptz and at < ${to}::timestamptz and g < ${size.runs}
            returning id, status, created_at)
          insert into ${attemptsTable} (run_id, run_created_at, number, job_id, worker, outcome, error_message,
                                                        error_class, started_at, finished_at)
          select r.id, r.created_at, n, null, 'bench-worker',
                 (case when r.status = 'failed' or n < ${size.attemptsPerRun} then 'failed' else 'succeeded' end)::attempt_outcome,
                 case when r.status = 'failed' or n < ${size.attemptsPerRun} then '503 from the accounting API' end,
                 case when r.status = 'failed' or n < ${size.attemptsPerRun} then 'HttpError' end,
                 r.created_at + make_interval(secs => n), r.created_at + make_interval(secs => n + 1)
            from r cross join generate_series(1, ${size.attemptsPerRun}) n`);
      }
      if (!inPlace) {
        const bounds = sql.raw(`for values from ('${from}') to ('${to}')`);
        await tx.execute(sql`alter table runs attach partition ${sql.raw(`runs_w${suffix}`)} ${bounds}`);
        await tx.execute(sql`alter table attempts attach partition ${sql.raw(`attempts_w${suffix}`)} ${bounds}`);
        await tx.execute(sql`create table ${sql.raw(`attempt_log_batches_w${suffix}`)} partition of attempt_log_batches ${bounds}`);
      }
    });
    if (size.runs > 1_000_000) {
      const s = (performance.now() - started) / 1000;
      console.error(
        `  week of ${from.slice(0, 10)}: runs ${gLow}..${gHigh} loaded and attached in ${((performance.now() - weekStarted) / 1000).toFixed(0)} s (${s.toFixed(0)} s so far)`,
      );
    }
  }
  // The weeks ahead, as the worker keeps them.
  await ensureRunPartitions(db, { from: new Date(t0Ms), weeks: 5 });
  const runIds = await db.execute<{ n: number }>(sql`select count(*)::int as n from runs where integration like 'bench-noop-%'`);
  if (runIds[0].n !== size.runs) throw new Error(`generated ${runIds[0].n} runs, expected ${size.runs}`);
  // A few logs per attempt on the newest failed runs (what run detail shows): one row of 5 lines each.
  await db.execute(sql`
    insert into attempt_log_batches (attempt_id, run_created_at, at, offsets, levels, messages)
    select a.id, a.run_created_at, a.started_at + interval '10 milliseconds', '{0,10,20,30,40}', 'iiiii',
           array(select 'batch ' || k || ': booked 100, rejected 0' from generate_series(1, 5) k)
      from (select id, created_at from runs where status = 'failed' order by created_at desc limit 1000) r
      join attempts a on a.run_id = r.id and a.run_created_at = r.created_at`);
  // Audit rows go through the hash-chain trigger, oldest first, spread over 30 days.
  const auditSpacing = (30 * 86_400) / size.audit;
  for (let from = size.audit - 1; from >= 0; from -= CHUNK) {
    const to = Math.max(0, from - CHUNK + 1);
    await db.execute(sql`
      insert into audit_log (changed_at, changed_by, kind, integration, field_name, old_value, new_value, correlation_id)
      select now() - make_interval(secs => g * ${auditSpacing}::float8), 'ada.admin@junction.local',
             case when g % 3 = 0 then 'config' else 'action' end, 'bench-noop-' || (g % ${size.integrations}),
             case when g % 3 = 0 then 'settings.batchSize' else 'run_now' end,
             to_jsonb(g % 500), to_jsonb((g + 1) % 500), md5(g::text)
        from generate_series(${from}::int, ${to}::int, -1) g`);
  }
  await db.execute(sql`vacuum analyze`);
  return (performance.now() - started) / 1000;
}

/**
 * The Overview's statements before retried_at and the daily rollup (issue 18), kept to check that
 * overviewStats shows the same counts on this data: a probe for a retry per failed run, and a pass
 * over every run of the week. The day bound as it was meant: from 00:00 UTC six days before
 * today's, inclusive, whatever the session's time zone (the old statement's '>' left out a run
 * created at exactly that midnight).
 */
async function overviewBeforeRetriedAt(db: DatabaseOrTransaction, params: { since: Date; now: Date }) {
  const firstDay = new Date(Date.UTC(params.now.getUTCFullYear(), params.now.getUTCMonth(), params.now.getUTCDate() - 6));
  const [counts] = await db.execute<{ failed: number; undelivered: number; running: number }>(sql`
    select
      (select count(*) from runs r where r.status = 'failed' and not r.dry_run
          and r.created_at >= ${params.since.toISOString()}::timestamptz
          and not exists (select 1 from runs x where x.retry_of = r.id))::int as failed,
      (select count(*) from incidents i where i.undelivered)::int as undelivered,
      (select count(*) from runs r where r.status in ('queued', 'running', 'retrying', 'deferred'))::int as running`);
  const daily = await db.execute<{ integration: string; day: string; finished: number; succeeded: number }>(sql`
    select integration, to_char(date_trunc('day', created_at at time zone 'UTC'), 'YYYY-MM-DD') as day,
           count(*) filter (where status in ('succeeded', 'failed'))::int as finished,
           count(*) filter (where status = 'succeeded')::int as succeeded
      from runs
     where created_at >= ${firstDay.toISOString()}::timestamptz and not dry_run
     group by 1, 2 order by 1, 2`);
  return { failedAwaitingAction: counts.failed, undeliveredIncidents: counts.undelivered, running: counts.running, daily: [...daily] };
}

/**
 * The inventory's statement before the hourly rollup (issue 18), kept to measure both on the same
 * data and to check that they show the same counts: the 24 h counts from one pass over the last 24
 * hours of runs_created_idx.
 */
async function inventoryBeforeRollup(db: DatabaseOrTransaction) {
  return db.execute<{ name: string; last_id: string | null; finished: number; succeeded: number; open_incidents: number }>(sql`
    select i.name, i.description, i.registered, i.paused, i.schedule, i.timezone, i.breaker_key,
           i.credentials_error, i.credentials_failing_since,
           b.state as breaker_state, b.open_until, b.consecutive_failures,
           lr.id as last_id, lr.status as last_status, lr.created_at as last_created, lr.finished_at as last_finished,
           coalesce(s.finished, 0)::int as finished, coalesce(s.succeeded, 0)::int as succeeded,
           coalesce(inc.n, 0)::int as open_incidents
      from integrations i
      left join breakers b on b.key = i.breaker_key
      left join lateral (
        select r.id, r.status, r.created_at, r.finished_at from runs r
         where r.integration >= i.name and r.integration <= i.name and not r.dry_run
         order by r.integration, r.created_at desc nulls last, r.id desc nulls last limit 1) lr on true
      left join (
        select r.integration,
               count(*) filter (where r.status in ('succeeded', 'failed')) as finished,
               count(*) filter (where r.status = 'succeeded') as succeeded
          from runs r
         where r.created_at > now() - interval '24 hours' and not r.dry_run
         group by r.integration) s on s.integration = i.name
      left join lateral (
        select count(*) as n from incidents x where x.integration = i.name and x.closed_at is null) inc on true
     order by i.registered desc, i.name`);
}

/**
 * getRunDetail before its one statement (issue 18), kept to time both on the same runs and to check
 * that they return the same: four round trips (the run by id, its attempts, their logs, its retries).
 */
async function runDetailFourQueries(db: DatabaseOrTransaction, params: { id: string; logLimit?: number }): Promise<RunDetail | null> {
  const [run] = await db.select().from(schema.runs).where(eq(schema.runs.id, params.id));
  if (!run) return null;
  const attemptRows = await db
    .select()
    .from(schema.attempts)
    .where(and(eq(schema.attempts.runId, run.id), eq(schema.attempts.runCreatedAt, run.createdAt)))
    .orderBy(asc(schema.attempts.number));
  const logs = await readAttemptLogs(db, {
    attemptIds: attemptRows.map((a) => a.id),
    runCreatedAt: run.createdAt,
    limit: params.logLimit ?? 2000,
  });
  const retries = await db
    .select({ id: schema.runs.id, status: schema.runs.status, createdAt: schema.runs.createdAt, triggeredBy: schema.runs.triggeredBy })
    .from(schema.runs)
    .where(and(eq(schema.runs.retryOf, run.id), gte(schema.runs.createdAt, run.createdAt)))
    .orderBy(asc(schema.runs.createdAt));
  return {
    run,
    attempts: attemptRows.map((a) => ({ ...a, logs: logs.get(a.id)?.lines ?? [], logGap: logs.get(a.id)?.gap })),
    retries,
  };
}

interface Captured {
  query: string;
  params: unknown[];
}

export async function runConsole(ctx: BenchContext): Promise<BenchResult> {
  const size = CONSOLE_SIZES[ctx.huge ? 'huge' : ctx.size];
  const bench = await createBenchDatabase(ctx.adminUrl, 'console', 4);
  try {
    const seconds = await generate(bench.db, size);
    // Retries, which the generator does not write: 200 failed runs of the last 7 days and 50 older
    // ones, retried an hour later through a plain insert, so the trigger of migration 0019 marks
    // them retried (runs the Overview then no longer counts as awaiting action).
    const retries = await bench.db.execute(sql`
      insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, attempt_count, retry_of,
                        created_at, started_at, finished_at, result)
      select r.integration, 'retry', 'succeeded', 'ada.operator@junction.local', r.correlation_id, 3, 1, r.id,
             r.created_at + interval '1 hour', r.created_at + interval '1 hour 0.5 seconds', r.created_at + interval '1 hour 2 seconds',
             '{"processed": 100}'::jsonb
        from ((select id, integration, correlation_id, created_at from runs
                where status = 'failed' and created_at >= now() - interval '7 days' and created_at < now() - interval '2 hours'
                order by md5(id::text) limit 200)
              union all
              (select id, integration, correlation_id, created_at from runs
                where status = 'failed' and created_at < now() - interval '7 days' and created_at >= now() - interval '14 days'
                order by md5(id::text) limit 50)) r
      returning id`);
    // What the worker's maintenance loop does every 5 minutes: seal the closed hours of the last
    // 8 days (here all ~190 of them at once, the most it ever does: the first round after 0019).
    const sealStarted = performance.now();
    const sealed = await sealRunHours(bench.db);
    const sealSeconds = (performance.now() - sealStarted) / 1000;
    const sealAgain = performance.now();
    await sealRunHours(bench.db);
    const sealAgainMs = performance.now() - sealAgain;
    // overviewStats must show what the old statements show, on this data (one snapshot, one clock).
    const overviewCheck = await bench.db.transaction(
      async (tx) => {
        const now = new Date();
        const since = new Date(now.getTime() - AWAITING_ACTION_WINDOW_MS);
        const oldStarted = performance.now();
        const want = await overviewBeforeRetriedAt(tx, { since, now });
        const oldSeconds = (performance.now() - oldStarted) / 1000;
        const got = await overviewStats(tx, { since, now });
        if (JSON.stringify(got) !== JSON.stringify(want))
          throw new Error(`overviewStats differs from the old statements: ${JSON.stringify({ got, want })}`);
        return { oldSeconds, failed: got.failedAwaitingAction, days: got.daily.length };
      },
      { isolationLevel: 'repeatable read' },
    );
    // The rollup must show what the old statement shows, on this data.
    await bench.db.transaction(async (tx) => {
      const before = await inventoryBeforeRollup(tx);
      const after = await listInventory(tx);
      const got = after.map((r) => [r.name, r.finished24h, r.succeeded24h, r.lastRun?.id ?? null]);
      const want = before.map((r) => [r.name, r.finished, r.succeeded, r.last_id]);
      if (JSON.stringify(got) !== JSON.stringify(want))
        throw new Error(`inventory with the rollup differs from the old statement: ${JSON.stringify({ got, want })}`);
    });
    // Five integrations failing now: an open run_failed incident each, whose row on the inventory
    // counts its failed runs nobody retried (from the hour 7 days back, as the Overview counts them).
    const failingNow = Array.from({ length: 5 }, (_, k) => `bench-noop-${k}`);
    await bench.db.execute(sql`
      insert into incidents (integration, kind, opened_at, last_event_at, failed_runs, last_error)
      select name, 'run_failed', now() - interval '3 hours', now(), 40, 'accounting API answered 503 three times'
        from unnest(${`{${failingNow.join(',')}}`}::text[]) name`);
    const awaitingCheck = await bench.db.transaction(
      async (tx) => {
        const since = awaitingActionSince(new Date()).toISOString();
        const want = await tx.execute<{ integration: string; n: number }>(sql`
          select integration, count(*)::int as n from runs
           where status = 'failed' and not dry_run and retried_at is null and created_at >= ${since}::timestamptz
             and integration = any(${`{${failingNow.join(',')}}`}::text[])
           group by integration order by integration`);
        const rows = await listInventory(tx);
        const got = rows
          .filter((r) => failingNow.includes(r.name))
          .map((r) => {
            // "40 failed runs in this incident; 1234 of the last 7 days await a retry" (failing-reasons.ts).
            const text = r.failingReasons.find((x) => x.kind === 'run_failed')?.text ?? '';
            const n = /; (\d+) of the last 7 days awaits? a retry$/.exec(text)?.[1];
            return { integration: r.name, n: n === undefined ? text : Number(n) };
          });
        if (JSON.stringify(got) !== JSON.stringify(want.map((w) => ({ integration: w.integration, n: w.n }))))
          throw new Error(`the inventory's awaiting-retry counts differ from a plain count: ${JSON.stringify({ got, want })}`);
        return want.reduce((sum, w) => sum + w.n, 0);
      },
      { isolationLevel: 'repeatable read' },
    );
    // The Runs page's "Retry all N matching" count must be what a plain count says, up to its cap.
    const retryableCheck = async (f: RetryableRunFilter) => {
      const got = await countRetryableRuns(bench.db, f, BULK_LIMIT + 1);
      const [want] = await bench.db.execute<{ n: number }>(sql`
        select least(count(*), ${BULK_LIMIT + 1})::int as n from runs r
         where r.status = ${f.status} and r.retried_at is null and (${f.integration ?? null}::text is null or r.integration = ${f.integration ?? null})
           and (${f.trigger ?? null}::text is null or r.trigger::text = ${f.trigger ?? null})`);
      if (got !== want.n) throw new Error(`countRetryableRuns ${JSON.stringify(f)}: ${got}, a plain count ${want.n}`);
      return got;
    };
    const retryFilters: { label: string; filter: RetryableRunFilter }[] = [
      { label: 'failed', filter: { status: 'failed' } },
      { label: 'failed, one integration', filter: { status: 'failed', integration: 'bench-noop-7' } },
      {
        label: 'failed, one integration, manual (none match)',
        filter: { status: 'failed', integration: 'bench-noop-7', trigger: 'manual' },
      },
      { label: 'cancelled (none match)', filter: { status: 'cancelled' } },
    ];
    const retryableCounts = [];
    for (const r of retryFilters) retryableCounts.push(`${r.label}: ${await retryableCheck(r.filter)}`);

    const [failed] = await bench.db.execute<{ id: string }>(
      sql`select id from runs where status = 'failed' order by created_at desc limit 1 offset 40`,
    );
    const deepRow = await bench.db.execute<{ id: string; created_at: string }>(
      sql`select id, created_at::text from runs where status = 'failed' order by created_at desc, id desc limit 1 offset 20000`,
    );
    const deepCursor = deepRow[0] ? runCursor({ createdAt: new Date(deepRow[0].created_at), id: deepRow[0].id }) : undefined;
    const randomRunIds = (
      await bench.db.execute<{ id: string }>(sql`select id from runs tablesample system (1) limit ${size.samples}`)
    ).map((r) => r.id);
    // The one statement must return what the four queries return, on this data.
    for (const id of [failed.id, ...randomRunIds.slice(0, 10)]) {
      const [got, want] = [await getRunDetail(bench.db, { id }), await runDetailFourQueries(bench.db, { id })];
      if (JSON.stringify(got) !== JSON.stringify(want))
        throw new Error(`run detail differs from the four queries for ${id}: ${JSON.stringify({ got, want })}`);
    }

    // The Audit page's chain status starts from the position the scheduled full verification
    // leaves (the whole chain checked once: its time is reported, it is not a page cost).
    const fullStarted = performance.now();
    const full = await verifyAuditChain(bench.db);
    const fullSeconds = (performance.now() - fullStarted) / 1000;
    if (!full.ok) throw new Error(`generated audit chain does not verify: ${full.brokenAt.reason}`);
    await bench.db.execute(
      sql`update audit_chain_state set verified_id = ${full.headId}, verified_hash = ${full.head ?? 'genesis'}, verified_rows = ${full.rows} where id = 1`,
    );
    const newAuditRows = async (db: Database) => {
      for (let k = 0; k < 10; k++) {
        await appendAudit(db, {
          actor: 'ada.admin@junction.local',
          entries: [{ kind: 'action', integration: 'bench-noop-0', fieldName: 'run_now' }],
        });
      }
    };

    const since = () => new Date(Date.now() - 86_400_000);
    // The newest failed runs have logs (the EXPLAIN's run, i = -1); the samples are runs of any week.
    const detailId = (i: number) => (i < 0 ? failed.id : (randomRunIds[i % randomRunIds.length] ?? failed.id));
    const pages: {
      name: string;
      comparison?: boolean;
      call: (db: Database, i: number) => Promise<unknown>;
      prepare?: (db: Database) => Promise<void>;
    }[] = [
      {
        name: `inventory (${size.integrations + 1} integrations, 1 never ran, ${failingNow.length} with a run_failed incident)`,
        call: (db) => listInventory(db),
      },
      {
        name: 'inventory before the rollup (the old statement, for comparison)',
        comparison: true,
        call: (db) => inventoryBeforeRollup(db),
      },
      {
        // The Overview page's other statements: failed runs awaiting action (7 days: a range of
        // runs_awaiting_action_idx) and the daily finished/succeeded counts of the last 7 UTC days
        // (the hourly rollup plus the hours it does not cover, live).
        name: 'Overview stats (7 days: failed awaiting action, daily counts)',
        call: (db) => overviewStats(db, { since: new Date(Date.now() - AWAITING_ACTION_WINDOW_MS) }),
      },
      { name: 'runs list, failed, first page of 50', call: (db) => listRuns(db, { status: 'failed', limit: 50 }) },
      { name: 'runs list, failed, keyset page 400 deep', call: (db) => listRuns(db, { status: 'failed', limit: 50, after: deepCursor }) },
      // Runs filtered to failed or cancelled runs (as an operator): the page also counts what
      // "Retry all N matching" would take, up to 501.
      ...retryFilters.map((r) => ({
        name: `runs page, retry-all count: ${r.label}`,
        call: (db: Database) => countRetryableRuns(db, r.filter, BULK_LIMIT + 1),
      })),
      { name: 'run detail (3 attempts, logs)', call: (db, i) => getRunDetail(db, { id: detailId(i) }) },
      {
        name: 'run detail before the one statement (the old 4 queries, for comparison)',
        comparison: true,
        call: (db, i) => runDetailFourQueries(db, { id: detailId(i) }),
      },
      { name: 'audit, last 24 h, first page of 100', call: (db) => changesSince(db, { since: since() }) },
      {
        name: 'Audit page: last 24 h + chain status, 10 new rows',
        prepare: newAuditRows,
        call: async (db) => {
          const [, chain] = await Promise.all([changesSince(db, { since: since() }), auditChainStatus(db)]);
          if (!chain.ok || chain.checkedNow !== 10)
            throw new Error(`chain status: ok ${chain.ok}, checked ${chain.checkedNow} rows, expected 10`);
        },
      },
    ];

    for (const page of pages) {
      for (let i = 0; i < 3; i++) {
        await page.prepare?.(bench.db); // (not timed)
        await page.call(bench.db, i); // warm caches and plans
      }
    }
    const times = pages.map(() => [] as number[]);
    for (let i = 0; i < size.samples; i++) {
      for (let k = 0; k < pages.length; k++) {
        await pages[k].prepare?.(bench.db);
        const started = performance.now();
        await pages[k].call(bench.db, i);
        times[k].push(performance.now() - started);
      }
    }

    // The statements each function sends, captured through a logging Drizzle on the same pool.
    const captured: Captured[] = [];
    const logging = drizzle(bench.db.$client, {
      schema,
      logger: { logQuery: (query, params) => captured.push({ query, params }) },
    }) as unknown as Database;
    const explains: string[] = [];
    for (const page of pages) {
      await page.prepare?.(bench.db);
      captured.length = 0;
      await page.call(logging, -1);
      for (const c of captured) {
        const plan = await bench.db.$client.unsafe(`explain (analyze, buffers, costs off) ${c.query}`, c.params as never[]);
        explains.push(`-- ${page.name}\n${c.query}\n${plan.map((r) => r['QUERY PLAN']).join('\n')}`);
      }
    }
    // getRunDetail's statement is prepared per connection: after its first five runs PostgreSQL may
    // keep one generic plan for it, whose weeks are pruned as it executes. That plan, on the same run:
    const genericPlan = await bench.db.transaction(async (tx) => {
      await tx.execute(sql.raw(`prepare run_detail_generic(uuid, int) as ${RUN_DETAIL_SQL}`));
      await tx.execute(sql`set local plan_cache_mode = force_generic_plan`);
      const plan = await tx.execute<{ 'QUERY PLAN': string }>(
        sql.raw(`explain (analyze, buffers, costs off) execute run_detail_generic('${failed.id}', 2000)`),
      );
      await tx.execute(sql`deallocate run_detail_generic`);
      return plan.map((r) => r['QUERY PLAN']).join('\n');
    });
    explains.push(`-- run detail, its generic plan (plan_cache_mode = force_generic_plan)\n${genericPlan}`);

    const rows = pages.map((page, k) => {
      const p95 = percentile(times[k], 95);
      return [page.name, median(times[k]), p95, Math.max(...times[k]), page.comparison ? '(not a page)' : p95 < GOAL_MS ? 'met' : 'MISSED'];
    });
    const worst = Math.max(...pages.map((page, k) => (page.comparison ? 0 : percentile(times[k], 95))));
    const text = [
      `${size.runs.toLocaleString('en-US')} runs, ${(size.runs * size.attemptsPerRun).toLocaleString('en-US')} attempts, ${size.audit.toLocaleString('en-US')} audit rows (hash-chained), generated in ${seconds.toFixed(0)} s; ${size.samples} samples per query, interleaved`,
      `Overview: ${overviewCheck.failed.toLocaleString('en-US')} failed runs awaiting action (${retries.length} retries written through the trigger), ${overviewCheck.days} integration-days: the same as the old statements, which took ${overviewCheck.oldSeconds.toFixed(1)} s once`,
      `inventory: ${failingNow.length} open run_failed incidents, ${awaitingCheck.toLocaleString('en-US')} of their runs awaiting a retry, as a plain count says; retry-all counts (cap ${BULK_LIMIT + 1}) as a plain count says: ${retryableCounts.join(', ')}`,
      `rollup: ${sealed.sealed} closed hours sealed in ${sealSeconds.toFixed(2)} s after generating (the first round; a round with nothing new ${sealAgainMs.toFixed(1)} ms); the inventory with the rollup shows the same counts as the old statement`,
      `full audit chain verification (the scheduled job's chain pass, not a page cost): ${full.rows.toLocaleString('en-US')} rows in ${fullSeconds.toFixed(1)} s`,
      table(['page query', 'p50 ms', 'p95 ms', 'max ms', `p95 < ${GOAL_MS} ms`], rows),
      '',
      'EXPLAIN (ANALYZE, BUFFERS):',
      ...explains,
    ].join('\n');
    return { name: 'console', text, summary: [['4 console: worst p95 ms (goal < 50)', worst, '', worst < GOAL_MS ? 'met' : 'MISSED']] };
  } finally {
    await bench.drop();
  }
}
