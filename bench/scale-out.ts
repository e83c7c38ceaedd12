import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { createBoss } from '../lib/platform/execution/boss';
import { ensurePlatformQueues, RUNS_QUEUE } from '../lib/platform/execution/queue';
import { buildRegistry, syncRegistry } from '../lib/platform/registry';
import { completedJobs, DISPATCH_SIZES, platformThroughput, queueRuns, settleStatistics, untilDrained } from './dispatch';
import { createBenchDatabase, median, table, until, type BenchContext } from './lib';
import { noopIntegrations } from './noop-integrations';
import type { BenchResult } from './run';

/**
 * Benchmark 5, scale-out: the platform with 1, 2 and 4 worker processes on one PostgreSQL, and the
 * proof that no integration ever ran twice at once: overlapping attempts of the same integration,
 * counted over every attempt of the benchmark, must be zero.
 *
 * Two measures per process count, the processes sharing benchmark 1's one-process settings
 * (perProcess):
 * - drain: runs queued while the processes are paused (warmed up by a first batch of runs), then
 *   every process starts working at once ("go" on its stdin); timed to the last completion. This
 *   is the workers' capacity, and the case that tests the singleton per integration hardest: every
 *   process fetches batches of the same integrations at the same moment.
 * - end to end: `runNow` from the benchmark process while the workers run, bounded by the producer
 *   (runNow's audited transaction).
 */

export const SCALE_OUT_SIZES = {
  tiny: { runs: 16, drainRuns: 32, integrations: 8, concurrency: 4, runBatch: 2, rounds: 1, processes: [1, 2, 4] },
  full: {
    runs: 240,
    // Benchmark 1's drain, integrations and one-process settings (and their BENCH_* overrides).
    drainRuns: DISPATCH_SIZES.full.drainRuns,
    integrations: DISPATCH_SIZES.full.integrations,
    concurrency: DISPATCH_SIZES.full.concurrency,
    runBatch: DISPATCH_SIZES.full.runBatch,
    rounds: 2,
    /** BENCH_PROCESSES=1,2 overrides the process counts. */
    processes: (process.env.BENCH_PROCESSES ?? '1,2,4').split(',').map(Number),
  },
} as const;

const here = path.dirname(fileURLToPath(import.meta.url));

type Size = (typeof SCALE_OUT_SIZES)[keyof typeof SCALE_OUT_SIZES];

/**
 * Each process's settings. By default the processes share the one-process settings (benchmark 1's
 * 32 slots of batches of 16, as many as the integrations): n processes get 1/n of the concurrency
 * each, batches no larger. Measured on 1 Dec 2026 with each process at the full 32 x 16 instead
 * (BENCH_SCALE_SAME=1, before 981fdef): 4 processes drained 128-698 runs/s against 1 339-1 515 for one, because 8
 * slots of 16 over 32 integrations fetch small batches and pay each batch's fixed cost per few runs.
 */
function perProcess(size: Size, processes: number): { concurrency: number; runBatch: number } {
  if (process.env.BENCH_SCALE_SAME === '1') return { concurrency: size.concurrency, runBatch: size.runBatch };
  const concurrency = Math.max(1, Math.floor(size.concurrency / processes));
  return { concurrency, runBatch: Math.min(size.runBatch, concurrency) };
}

interface WorkerProcess {
  child: ChildProcess;
  /** Resolves on the next line the process prints that equals `line`. */
  next(line: string): Promise<void>;
}

/** Spawns `count` worker processes and waits until each has connected (they work only after `go`). */
async function spawnWorkers(url: string, count: number, size: Size): Promise<WorkerProcess[]> {
  const tsx = path.join(here, '..', 'node_modules', '.bin', 'tsx');
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const { concurrency, runBatch } = perProcess(size, count);
      const args = [size.integrations, concurrency, runBatch, `p${count}-${i}`].map(String);
      const child = spawn(tsx, [path.join(here, 'scale-out-worker.ts'), url, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
      const waiting: { line: string; resolve: () => void }[] = [];
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const at = waiting.findIndex((w) => w.line === line.trim());
        if (at >= 0) waiting.splice(at, 1)[0].resolve();
      });
      const worker: WorkerProcess = { child, next: (line) => new Promise<void>((resolve) => waiting.push({ line, resolve })) };
      const ready = worker.next('ready');
      await Promise.race([
        ready,
        new Promise<never>((_, reject) =>
          child.on('exit', (code) => reject(new Error(`worker process ${i} exited with ${code} before it was ready`))),
        ),
      ]);
      return worker;
    }),
  );
}

/** Sends `verb` to every process and waits for each one's answer ("working" or "paused"). */
async function command(workers: WorkerProcess[], verb: 'go' | 'pause'): Promise<void> {
  await Promise.all(
    workers.map((w) => {
      const answered = w.next(verb === 'go' ? 'working' : 'paused');
      w.child.stdin!.write(`${verb}\n`);
      return answered;
    }),
  );
}

async function stopWorkers(workers: WorkerProcess[]): Promise<void> {
  await Promise.all(
    workers.map(
      ({ child }) =>
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

/** Jobs of the runs queue in any state: one per run, plus one per re-queue (a run waiting its turn or its breaker). */
async function jobCount(db: Database): Promise<number> {
  const [row] = await db.execute<{ n: number }>(sql`select count(*)::int as n from pgboss.job where name = ${RUNS_QUEUE}`);
  return row.n;
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
    const results: { processes: number; drain: number[]; requeues: number[]; endToEnd: number[] }[] = [];
    for (const processes of size.processes) {
      const workers = await spawnWorkers(bench.url, processes, size);
      try {
        // Warm-up (connections, prepared statements, compiled code), then paused between rounds.
        await command(workers, 'go');
        await platformThroughput(bench.db, boss, { runs: size.integrations * 4, integrations: size.integrations });
        await command(workers, 'pause');
        const drain: number[] = [];
        const requeues: number[] = [];
        for (let round = 0; round < size.rounds; round++) {
          const before = await completedJobs(bench.db, RUNS_QUEUE);
          await queueRuns(bench.db, boss, { runs: size.drainRuns, integrations: size.integrations });
          await settleStatistics(bench.db);
          const jobsBefore = await jobCount(bench.db);
          const started = performance.now();
          await command(workers, 'go');
          await untilDrained(bench.db, RUNS_QUEUE, before, size.drainRuns);
          drain.push(size.drainRuns / ((performance.now() - started) / 1000));
          requeues.push(((await jobCount(bench.db)) - jobsBefore) / size.drainRuns);
          await command(workers, 'pause');
        }
        await command(workers, 'go');
        const endToEnd: number[] = [];
        for (let round = 0; round < size.rounds; round++) endToEnd.push(await platformThroughput(bench.db, boss, size));
        results.push({ processes, drain, requeues, endToEnd });
      } finally {
        await stopWorkers(workers);
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
    const base = { drain: median(results[0].drain), endToEnd: median(results[0].endToEnd) };
    const text = [
      `per process: ${size.processes.map((n) => `${n} process${n > 1 ? 'es' : ''} concurrency ${perProcess(size, n).concurrency} batch ${perProcess(size, n).runBatch}`).join('; ')}; polling 0.5 s as the fallback to NOTIFY; ${size.integrations} no-op integrations; ${size.rounds} rounds per process count`,
      `drain: ${size.drainRuns} runs queued, then every process starts at once; end to end: ${size.runs} runs through runNow while the processes work`,
      table(
        [
          'worker processes',
          'drain runs/s (median)',
          'each round',
          'vs 1 process',
          're-queues per run',
          'end to end runs/s',
          'each round',
          'vs 1 process',
        ],
        results.map((r) => [
          String(r.processes),
          median(r.drain),
          r.drain.map((v) => v.toFixed(1)).join(' '),
          (median(r.drain) / base.drain).toFixed(2),
          r.requeues.map((v) => v.toFixed(2)).join(' '),
          median(r.endToEnd),
          r.endToEnd.map((v) => v.toFixed(1)).join(' '),
          (median(r.endToEnd) / base.endToEnd).toFixed(2),
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
          `5 scale-out: drain runs/s with ${last.processes} vs 1 process; overlaps ${overlaps}`,
          median(last.drain),
          base.drain,
          (median(last.drain) / base.drain).toFixed(2),
        ],
        [
          `5 scale-out: end to end runs/s with ${last.processes} vs 1 process`,
          median(last.endToEnd),
          base.endToEnd,
          (median(last.endToEnd) / base.endToEnd).toFixed(2),
        ],
      ],
    };
  } finally {
    await boss.stop({ graceful: false }).catch(() => {});
    await bench.drop();
  }
}
