/**
 * Log volume per run (bench/README.md, 4, "Log volume per run"): bytes of attempt logs per run
 * (table + indexes over the weekly partitions, after VACUUM ANALYZE), write cost and the run
 * detail's log query, for the tree at `root` (default: this one). Run it against two trees in the
 * same session to compare: `npx tsx bench/log-volume.ts /work/main`.
 *
 * Attempts log through the tree's own ctx.log writer (createAttemptLog), flushed every 3 lines
 * like an export posting a batch every ~80 ms under the 250 ms flush. Needs TEST_DATABASE_URL
 * (a superuser: it creates and drops its own database).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import postgres from 'postgres';

const root = path.resolve(process.argv[2] ?? process.cwd());
const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ROUNDS = Number(process.env.LOG_BENCH_ROUNDS ?? 5);
const ATTEMPTS = Number(process.env.LOG_BENCH_ATTEMPTS ?? 10_000);
/** LOG_BENCH_MILLION=0 skips the 1,000,000-line attempt (minutes on one row per line). */
const MILLION = process.env.LOG_BENCH_MILLION !== '0';

type Db = { execute<T>(query: unknown): Promise<T[]> };
type Logger = {
  info(message: string, data?: unknown): void;
  flush(): Promise<void>;
  close(): Promise<void>;
};

const { connect, disconnect } = await import(path.join(root, 'db/client.ts'));
const { applyMigrations } = await import(path.join(root, 'db/migrate.ts'));
const { createAttemptLog } = (await import(path.join(root, 'lib/platform/log.ts'))) as {
  createAttemptLog: (db: Db, p: { attemptId: string; runCreatedAt: Date; flushMs?: number; maxBatch?: number }) => Logger;
};
const { getRunDetail } = await import(path.join(root, 'lib/platform/read-models/run-queries.ts'));
const { sql } = await import(path.join(root, 'node_modules/drizzle-orm/index.js'));

/** The lines of one attempt, by kind of run. */
const SCENARIOS: Record<string, { attempts: number; lines: (k: number) => [string, unknown][] }> = {
  // A scheduled export of 250 changed invoices: the start line, the count, 3 batches, the summary.
  'export, 3 batches (6 lines)': { attempts: ATTEMPTS, lines: (k) => exportLines(k, 3) },
  // The attempt of the earlier measurement: 10 batches.
  'export, 10 batches (13 lines)': { attempts: ATTEMPTS, lines: (k) => exportLines(k, 10) },
  // A no-op run: the runner's start line only.
  'no-op run (1 line)': { attempts: ATTEMPTS, lines: (k) => [startLine(k)] },
};

function startLine(k: number): [string, unknown] {
  return [`attempt 1 of 3 started on worker-${k % 4}-4f1c2a`, { correlationId: `c0ffee${k.toString(16).padStart(10, '0')}-9b1d-4c3e` }];
}

function exportLines(k: number, batches: number): [string, unknown][] {
  const lines: [string, unknown][] = [startLine(k)];
  lines.push([
    `exporting ${batches * 100 - 50} invoices changed since 2026-11-30T10:00:00.000Z, before 2026-11-30T12:00:00.000Z`,
    { batchSize: 100 },
  ]);
  for (let b = 1; b <= batches; b++)
    lines.push([`batch ${b}: booked 100, rejected 0`, { idempotencyKey: `export-${k}-${b}-${'ab12cd34'.repeat(4)}` }]);
  lines.push([`Booked ${batches * 100 - 50} journal entries in ${batches} batches; 0 rejected`, undefined]);
  return lines;
}

async function main() {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  const name = `jt_logvol_${randomBytes(4).toString('hex')}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = connect(url.toString(), { max: 20, name: 'log-volume' });
  try {
    await applyMigrations(db);
    const compact = (await db.execute(sql`select to_regclass('attempt_log_batches') is not null as c`))[0].c as boolean;
    const table = compact ? 'attempt_log_batches' : 'attempt_logs';
    console.log(`tree ${root}: ${table} (${compact ? 'one row per flush' : 'one row per line'})`);
    await db.execute(sql`insert into integrations (name, breaker_key) values ('x', 'x')`);
    const runsOf = async (n: number) =>
      db.execute(sql`
        with r as (
          insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts)
          select 'x', 'schedule', 'succeeded', 's', 'c', 3 from generate_series(1, ${n}::int) returning id, created_at)
        insert into attempts (run_id, run_created_at, number, outcome) select id, created_at, 1, 'succeeded' from r
        returning id, run_created_at`) as Promise<{ id: string; run_created_at: string }[]>;
    const size = async () => {
      await db.execute(sql.raw(`vacuum analyze ${table}`));
      const [s] = await db.execute(
        sql.raw(`select coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint as bytes, (select count(*) from ${table})::int as rows,
                        (select coalesce(sum(pg_column_size(t.*)), 0) from ${table} t)::bigint as tuples
                   from pg_inherits where inhparent = '${table}'::regclass`),
      );
      return { bytes: Number(s.bytes), rows: Number(s.rows), tuples: Number(s.tuples) };
    };
    const commits = async () =>
      Number((await db.execute(sql`select xact_commit::bigint as n from pg_stat_database where datname = current_database()`))[0].n);

    for (const [label, s] of Object.entries(SCENARIOS)) {
      await db.execute(sql.raw(`truncate ${table}`));
      const attempts = await runsOf(s.attempts);
      const c0 = await commits();
      const cpu0 = process.cpuUsage();
      let lines = 0;
      for (let i = 0; i < attempts.length; i += 50) {
        await Promise.all(
          attempts.slice(i, i + 50).map(async (a, j) => {
            const log = createAttemptLog(db, { attemptId: a.id, runCreatedAt: new Date(a.run_created_at), flushMs: 60_000 });
            const ls = s.lines(i + j);
            for (let n = 0; n < ls.length; n++) {
              log.info(ls[n][0], ls[n][1]);
              if (n % 3 === 2) void log.flush();
            }
            lines += ls.length;
            await log.close();
          }),
        );
      }
      const cpu = process.cpuUsage(cpu0);
      await new Promise((resolve) => setTimeout(resolve, 1_500)); // pg_stat counters are flushed at most every second
      const c1 = await commits();
      const { bytes, rows, tuples } = await size();
      console.log(
        `${label}: ${Math.round(bytes / s.attempts)} B per run (${bytes} B, ${rows} rows for ${lines} lines; ` +
          `row data ${Math.round(tuples / s.attempts)} B per run without page and index overhead); ` +
          `${((c1 - c0) / s.attempts).toFixed(2)} commits per run; Node CPU ${(((cpu.user + cpu.system) / 1000 / lines) * 1000).toFixed(1)} ms per 1,000 lines`,
      );
    }

    // One attempt logging 1,000,000 lines in a hot loop (the writer's own flushes: 200 lines or 250 ms).
    if (MILLION) {
      await db.execute(sql.raw(`truncate ${table}`));
      const [a] = await runsOf(1);
      const c0 = await commits();
      const cpu0 = process.cpuUsage();
      const started = performance.now();
      const log = createAttemptLog(db, { attemptId: a.id, runCreatedAt: new Date(a.run_created_at) });
      for (let i = 0; i < 1_000_000; i++) {
        log.info(`record ${i}: booked`, i % 10 === 0 ? { i } : undefined);
        if (i % 10_000 === 9_999) await new Promise((resolve) => setImmediate(resolve));
      }
      await log.close();
      const cpu = process.cpuUsage(cpu0);
      const seconds = (performance.now() - started) / 1000;
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const c1 = await commits();
      const { bytes, rows } = await size();
      const [kept] = await db.execute(sql`select count(*)::int as n from attempt_logs`);
      console.log(
        `1,000,000 lines: ${bytes} B (${rows} rows, ${kept.n} lines kept); ${c1 - c0} commits; ` +
          `Node CPU ${(((cpu.user + cpu.system) / 1000 / 1_000_000) * 1000).toFixed(1)} ms per 1,000 lines; ${seconds.toFixed(1)} s wall`,
      );
    }

    // The run detail of a run whose attempt logged 10,000 lines (export-like, data on each).
    {
      await db.execute(sql.raw(`truncate ${table}`));
      const [a] = await runsOf(1);
      const log = createAttemptLog(db, { attemptId: a.id, runCreatedAt: new Date(a.run_created_at), flushMs: 60_000 });
      for (let i = 0; i < 10_000; i++) {
        log.info(`batch ${i}: booked 100, rejected 0`, { idempotencyKey: `export-1-${i}-${'ab12cd34'.repeat(4)}` });
        if (i % 200 === 199) await log.flush();
      }
      await log.close();
      await size();
      const [run] = await db.execute(sql`select run_id from attempts where id = ${a.id}`);
      const times: number[] = [];
      let shown = 0;
      for (let r = 0; r < ROUNDS + 1; r++) {
        const t0 = performance.now();
        const detail = await getRunDetail(db, { id: run.run_id, logLimit: 10_000 });
        if (r > 0) times.push(performance.now() - t0);
        shown = detail.attempts[0].logs.length;
      }
      const cpu0 = process.cpuUsage();
      await getRunDetail(db, { id: run.run_id, logLimit: 10_000 });
      const cpu = process.cpuUsage(cpu0);
      const where = `attempt_id = '${a.id}' and run_created_at = '${a.run_created_at}'::timestamptz`;
      const plan = await db.execute(
        sql.raw(
          compact
            ? `explain (analyze, buffers, costs off) select * from attempt_log_batches where attempt_id in ('${a.id}') and ${where} order by id`
            : `explain (analyze, buffers, costs off) select * from attempt_logs where attempt_id in ('${a.id}') and ${where} order by id limit 10000`,
        ),
      );
      const text = plan.map((p: Record<string, string>) => p['QUERY PLAN']);
      console.log(
        `run detail, 10,000-line attempt (${shown} lines shown): getRunDetail ms per round ${times.map((t) => t.toFixed(1)).join(', ')}; ` +
          `Node CPU ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms; log query: ${text.filter((l: string) => /Buffers|Execution Time/.test(l))[0]?.trim()}, ${text.at(-1)?.trim()}`,
      );
    }
  } finally {
    await disconnect(db);
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

await main();
