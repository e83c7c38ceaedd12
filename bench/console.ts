import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { Database } from '../db/client';
import * as schema from '../db/schema';
import { ensureRunPartitions } from '../lib/platform/execution/retention';
import { appendAudit, auditChainStatus, changesSince, verifyAuditChain } from '../lib/platform/governance/audit';
import { listInventory } from '../lib/platform/read-models/inventory';
import { getRunDetail, listRuns, runCursor } from '../lib/platform/read-models/run-queries';
import { buildRegistry, syncRegistry } from '../lib/platform/registry';
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
const CHUNK = 100_000;

export async function generate(db: Database, size: (typeof CONSOLE_SIZES)[keyof typeof CONSOLE_SIZES]): Promise<number> {
  const started = performance.now();
  // One more integration than run: the inventory always lists some that never ran (new) or stopped
  // long ago (paused, orphaned), and their last-run lookup is the one a bad plan makes slow.
  await syncRegistry(db, { registry: buildRegistry(noopIntegrations(size.integrations + 1)) });
  // The weekly partitions of the whole period (migrate creates only the weeks around now).
  await ensureRunPartitions(db, { from: new Date(Date.now() - size.days * 86_400_000), weeks: Math.ceil(size.days / 7) + 2 });
  // Runs evenly over the period (newest = now; every ~2.6 s at full, ~0.8 s at huge), 1 in 20
  // failed; 3 attempts each, written with their runs chunk by chunk (one statement: set-based).
  const spacing = (size.days * 86_400) / size.runs;
  for (let from = 0; from < size.runs; from += CHUNK) {
    const to = Math.min(size.runs, from + CHUNK) - 1;
    await db.execute(sql`
      with r as (
        insert into runs (id, integration, trigger, status, triggered_by, correlation_id, max_attempts, attempt_count,
                          created_at, started_at, finished_at, error_message, result)
        select gen_random_uuid(), 'bench-noop-' || (g % ${size.integrations}), 'schedule',
               (case when g % 20 = 0 then 'failed' else 'succeeded' end)::run_status, 'schedule', md5(g::text), 3,
               (case when g % 20 = 0 then 3 else 1 end),
               now() - make_interval(secs => g * ${spacing}::float8), now() - make_interval(secs => g * ${spacing}::float8 - 0.5),
               now() - make_interval(secs => g * ${spacing}::float8 - 2),
               case when g % 20 = 0 then 'accounting API answered 503 three times' end,
               case when g % 20 <> 0 then '{"processed": 100}'::jsonb end
          from generate_series(${from}::int, ${to}::int) g
        returning id, status, created_at)
      insert into attempts (run_id, run_created_at, number, job_id, worker, outcome, error_message, error_class, started_at, finished_at)
      select r.id, r.created_at, n, null, 'bench-worker',
             (case when r.status = 'failed' or n < ${size.attemptsPerRun} then 'failed' else 'succeeded' end)::attempt_outcome,
             case when r.status = 'failed' or n < ${size.attemptsPerRun} then '503 from the accounting API' end,
             case when r.status = 'failed' or n < ${size.attemptsPerRun} then 'HttpError' end,
             r.created_at + make_interval(secs => n), r.created_at + make_interval(secs => n + 1)
        from r cross join generate_series(1, ${size.attemptsPerRun}) n`);
    if (size.runs > 1_000_000 && (to + 1) % 1_000_000 === 0) {
      const s = (performance.now() - started) / 1000;
      console.error(
        `  generated ${(to + 1).toLocaleString('en-US')} runs in ${s.toFixed(0)} s (${Math.round((to + 1) / s)} runs/s with their attempts)`,
      );
    }
  }
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

interface Captured {
  query: string;
  params: unknown[];
}

export async function runConsole(ctx: BenchContext): Promise<BenchResult> {
  const size = CONSOLE_SIZES[ctx.huge ? 'huge' : ctx.size];
  const bench = await createBenchDatabase(ctx.adminUrl, 'console', 4);
  try {
    const seconds = await generate(bench.db, size);
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
    const pages: { name: string; call: (db: Database, i: number) => Promise<unknown>; prepare?: (db: Database) => Promise<void> }[] = [
      { name: `inventory (${size.integrations + 1} integrations, 1 never ran)`, call: (db) => listInventory(db) },
      { name: 'runs list, failed, first page of 50', call: (db) => listRuns(db, { status: 'failed', limit: 50 }) },
      { name: 'runs list, failed, keyset page 400 deep', call: (db) => listRuns(db, { status: 'failed', limit: 50, after: deepCursor }) },
      {
        name: 'run detail (3 attempts, logs)',
        call: (db, i) => getRunDetail(db, { id: i < 0 ? failed.id : (randomRunIds[i % randomRunIds.length] ?? failed.id) }),
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

    const rows = pages.map((page, k) => {
      const p95 = percentile(times[k], 95);
      return [page.name, median(times[k]), p95, Math.max(...times[k]), p95 < GOAL_MS ? 'met' : 'MISSED'];
    });
    const worst = Math.max(...pages.map((_, k) => percentile(times[k], 95)));
    const text = [
      `${size.runs.toLocaleString('en-US')} runs, ${(size.runs * size.attemptsPerRun).toLocaleString('en-US')} attempts, ${size.audit.toLocaleString('en-US')} audit rows (hash-chained), generated in ${seconds.toFixed(0)} s; ${size.samples} samples per query, interleaved`,
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
