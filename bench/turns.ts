import { sql } from 'drizzle-orm';
import { raiseRunFloor } from '../lib/platform/execution/run-floor';
import { loadRunsQuery } from '../lib/platform/execution/runner';
import { buildRegistry, syncRegistry } from '../lib/platform/registry';
import { alternate, createBenchDatabase, median, table, type BenchContext } from './lib';
import { noopIntegrations, noopName } from './noop-integrations';
import type { BenchResult } from './run';

/**
 * Benchmark 9: what a run's turn costs the worker at a year of weekly partitions (issue 18). The
 * worker's load statement (loadRunsQuery: the runs of a fetch and each one's first turn) is run
 * prepared, on one connection, for batches of queued runs, with the bound below unfinished runs
 * raised as the worker's maintenance loop raises it (migration 0032), against the same statement
 * with no bound (`-infinity`: every turn subquery probes every week, as before 0032) in
 * alternating rounds. Server time per statement is what changes; the Node side is the same.
 */

const SIZES = {
  tiny: { weeks: [13], integrations: 8, history: 2_000, queued: 200, batch: 16, loads: 50, rounds: 2 },
  full: { weeks: [0, 13, 52], integrations: 32, history: 20_000, queued: 2_000, batch: 16, loads: 400, rounds: 5 },
} as const;

export async function runTurns(ctx: BenchContext): Promise<BenchResult> {
  const size = SIZES[ctx.size];
  const bench = await createBenchDatabase(ctx.adminUrl, 'turns', 4);
  try {
    await syncRegistry(bench.db, { registry: buildRegistry(noopIntegrations(size.integrations)) });
    const names = Array.from({ length: size.integrations }, (_, i) => noopName(i)).join(',');
    // This week so far: finished runs, then a backlog of queued ones (all written now: no bound is lowered).
    await bench.db.execute(sql`
      insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts,
                        created_at, started_at, finished_at)
      select gen_random_uuid(), (string_to_array(${names}, ','))[1 + g % ${size.integrations}], 'api', false, 'succeeded', 'bench', 'history', 1, 3,
             now() - interval '10 minutes' - g * interval '1 ms', now() - interval '10 minutes', now() - interval '10 minutes'
        from generate_series(1, ${size.history}) g`);
    await bench.db.execute(sql`
      insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts)
      select gen_random_uuid(), (string_to_array(${names}, ','))[1 + g % ${size.integrations}], 'api', false, 'queued', 'bench', 'queued', 0, 3
        from generate_series(1, ${size.queued}) g`);
    const queued = (await bench.db.execute<{ id: string }>(sql`select id from runs where status = 'queued'`)).map((r) => r.id);
    const batches = Array.from({ length: size.loads }, (_, i) =>
      Array.from({ length: size.batch }, (_, j) => queued[(i * size.batch + j * 7) % queued.length]).join(','),
    );
    const { sql: text, params } = loadRunsQuery(bench.db).toSQL();
    const literal = (v: unknown) => (typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`);
    const executeText = (ids: string) =>
      `execute turns_load(${params.map((p) => literal(typeof p === 'object' && p !== null && 'name' in p ? ids : p)).join(', ')})`;

    const rows: (string | number)[][] = [];
    const summary: (string | number)[][] = [];
    for (const weeks of size.weeks) {
      if (weeks > 0)
        await bench.db.execute(sql`select ensure_run_partitions(now() - make_interval(weeks => ${weeks}::int), ${weeks + 1}::int)`);
      await bench.db.execute(sql`analyze`);
      const [{ n: partitions }] = await bench.db.execute<{ n: number }>(
        sql`select count(*)::int as n from pg_inherits where inhparent = 'runs'::regclass`,
      );
      const connection = await bench.db.$client.reserve();
      try {
        await connection.unsafe(`prepare turns_load as ${text}`);
        // Warm-up: the five custom plans PostgreSQL tries first, then the generic one the worker keeps.
        for (const ids of batches.slice(0, 10)) await connection.unsafe(executeText(ids));
        /** Microseconds per load of `size.batch` runs and their turns, over every batch. */
        const timeLoads = async () => {
          const started = performance.now();
          for (const ids of batches) await connection.unsafe(executeText(ids));
          return ((performance.now() - started) * 1000) / batches.length;
        };
        const result = await alternate(
          size.rounds,
          async () => {
            await raiseRunFloor(bench.db);
            return timeLoads();
          },
          async () => {
            await bench.db.execute(sql`update run_active_floor set since = '-infinity'`);
            return timeLoads();
          },
        );
        await connection.unsafe('deallocate turns_load');
        const platform = median(result.platform);
        const baseline = median(result.baseline);
        rows.push(
          [
            `${weeks} weeks before this one (${partitions} partitions): µs per load of ${size.batch} runs, median`,
            platform.toFixed(0),
            baseline.toFixed(0),
            (baseline / platform).toFixed(2),
          ],
          ['each round', result.platform.map((v) => v.toFixed(0)).join(' '), result.baseline.map((v) => v.toFixed(0)).join(' '), ''],
        );
        summary.push([
          `9 turns: load of ${size.batch} runs at ${weeks} weeks, µs`,
          platform.toFixed(0),
          baseline.toFixed(0),
          `${(baseline / platform).toFixed(2)} × faster`,
        ]);
      } finally {
        connection.release();
      }
    }
    const text8 = [
      `${size.history} finished and ${size.queued} queued runs this week over ${size.integrations} integrations; the worker's prepared load statement for ${size.loads} batches of ${size.batch} queued runs, on one connection; ${size.rounds} alternating rounds`,
      table(['benchmark 9: turns', 'bound raised (0032)', 'no bound (before 0032)', 'speed-up'], rows),
    ].join('\n');
    return { name: 'turns', text: text8, summary };
  } finally {
    await bench.drop();
  }
}
