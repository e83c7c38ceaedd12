import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { createBoss } from '../lib/platform/execution/boss';
import { ensurePlatformQueues } from '../lib/platform/execution/queue';
import { buildRegistry, syncRegistry } from '../lib/platform/registry';
import { platformThroughput } from './dispatch';
import { createBenchDatabase, median, table, until, type BenchContext } from './lib';
import { noopIntegrations } from './noop-integrations';
import type { BenchResult } from './run';

/**
 * Benchmark 5, scale-out: benchmark 1's platform throughput with 1, 2 and 4 worker processes on
 * one PostgreSQL, and the proof that no integration ever ran twice at once: overlapping attempts
 * of the same integration, counted over every attempt of the benchmark, must be zero.
 */

export const SCALE_OUT_SIZES = {
  tiny: { runs: 16, integrations: 8, concurrency: 2, rounds: 1, processes: [1, 2, 4] },
  full: { runs: 240, integrations: 16, concurrency: 4, rounds: 2, processes: [1, 2, 4] },
} as const;

const here = path.dirname(fileURLToPath(import.meta.url));

async function spawnWorkers(url: string, count: number, integrations: number, concurrency: number): Promise<ChildProcess[]> {
  const tsx = path.join(here, '..', 'node_modules', '.bin', 'tsx');
  return Promise.all(
    Array.from({ length: count }, (_, i) => {
      const child = spawn(tsx, [path.join(here, 'scale-out-worker.ts'), url, String(integrations), String(concurrency), `p${count}-${i}`], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      return new Promise<ChildProcess>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('ready')) resolve(child);
        });
        child.on('exit', (code) => reject(new Error(`worker process ${i} exited with ${code} before it was ready`)));
      });
    }),
  );
}

async function stopWorkers(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.removeAllListeners('exit');
          child.on('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
        }),
    ),
  );
}

/** Attempts of one integration that started before an earlier-started attempt of it had finished. */
export async function countOverlaps(db: Database): Promise<{ overlaps: number; attempts: number }> {
  const [row] = await db.execute<{ overlaps: number; attempts: number }>(sql`
    select count(*) filter (where started_at < prev_finished)::int as overlaps, count(*)::int as attempts
      from (select a.started_at,
                   max(coalesce(a.finished_at, 'infinity')) over (partition by r.integration order by a.started_at, a.id
                                                                  rows between unbounded preceding and 1 preceding) as prev_finished
              from attempts a join runs r on r.id = a.run_id) x`);
  return row;
}

export async function runScaleOut(ctx: BenchContext): Promise<BenchResult> {
  const size = SCALE_OUT_SIZES[ctx.size];
  const bench = await createBenchDatabase(ctx.adminUrl, 'scale_out', 10);
  const boss = createBoss(bench.url, { max: 4 });
  await boss.start();
  try {
    await syncRegistry(bench.db, { registry: buildRegistry(noopIntegrations(size.integrations)) });
    await ensurePlatformQueues(boss);
    const results: { processes: number; perSecond: number[] }[] = [];
    for (const processes of size.processes) {
      const children = await spawnWorkers(bench.url, processes, size.integrations, size.concurrency);
      try {
        await platformThroughput(bench.db, boss, { runs: size.integrations, integrations: size.integrations }); // warm-up
        const perSecond: number[] = [];
        for (let round = 0; round < size.rounds; round++) perSecond.push(await platformThroughput(bench.db, boss, size));
        results.push({ processes, perSecond });
      } finally {
        await stopWorkers(children);
      }
    }
    await until(
      'no run left running',
      async () => {
        const [r] = await bench.db.execute<{ n: number }>(
          sql`select count(*)::int as n from runs where status not in ('succeeded', 'failed', 'cancelled')`,
        );
        return r.n === 0;
      },
      60_000,
    );
    const { overlaps, attempts } = await countOverlaps(bench.db);
    const base = median(results[0].perSecond);
    const text = [
      `${size.runs} runs per round over ${size.integrations} no-op integrations, each process concurrency ${size.concurrency}, polling 0.5 s, ${size.rounds} rounds per process count`,
      table(
        ['worker processes', 'runs/s (median)', 'each round', 'vs 1 process'],
        results.map((r) => [
          String(r.processes),
          median(r.perSecond),
          r.perSecond.map((v) => v.toFixed(1)).join(' '),
          (median(r.perSecond) / base).toFixed(2),
        ]),
      ),
      `overlapping attempts of one integration: ${overlaps} of ${attempts} attempts (must be 0)`,
    ].join('\n');
    if (overlaps !== 0) throw new Error(`${overlaps} attempts overlapped another attempt of the same integration:\n${text}`);
    const last = results[results.length - 1];
    return {
      name: 'scale-out',
      text,
      summary: [
        [
          `5 scale-out: runs/s with ${last.processes} vs 1 process; overlaps ${overlaps}`,
          median(last.perSecond),
          base,
          (median(last.perSecond) / base).toFixed(2),
        ],
      ],
    };
  } finally {
    await boss.stop({ graceful: false }).catch(() => {});
    await bench.drop();
  }
}
