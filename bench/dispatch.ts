import { sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { Database } from '../db/client';
import { createBoss } from '../lib/platform/execution/boss';
import { DEFAULT_QUEUE_OPTIONS, RUNS_QUEUE } from '../lib/platform/execution/queue';
import { raiseRunFloor } from '../lib/platform/execution/run-floor';
import { startPlatformWorker } from '../lib/platform/execution/worker';
import { buildRegistry } from '../lib/platform/registry';
import { runNow } from '../lib/platform/triggers/triggers';
import { alternate, createBenchDatabase, inParallel, median, percentile, ratioText, sleep, table, until, type BenchContext } from './lib';
import { noopIntegrations, noopName } from './noop-integrations';
import type { BenchResult } from './run';

/**
 * Benchmark 1, dispatch overhead. Platform: `runNow` of a no-op integration through the whole
 * path (run row + job + audit in one transaction, NOTIFY wake-up, pg-boss fetch, runner, turn
 * check, breaker check, attempt record, run completion). Baseline: raw pg-boss at its best
 * settings on this machine, measured in the same process and run: a queue with the runs queue's
 * semantics (singleton policy keyed by integration, same expiry, heartbeat and retry) and
 * `notify: true`, worked with batch fetches (`batchSize`, `burstWhenBatchFull`) and a tuned
 * concurrency (rawBest, chosen by a sweep: see bench/README.md). Both sides poll every 0.5 s as the
 * fallback; wake-ups come from LISTEN/NOTIFY.
 */

export const RAW_QUEUE = 'bench-raw';
export const POLLING_SECONDS = 0.5;

/** Raw pg-boss's best settings from the sweep (BENCH_RAW_BATCH / BENCH_RAW_CONCURRENCY override them). */
export function rawBest(integrations: number) {
  return {
    // A singleton fetch returns at most one job per key: a batch no larger than half the keys comes
    // back full while there is a backlog, which keeps burst mode (no poll wait between fetches) on.
    batchSize: Number(process.env.BENCH_RAW_BATCH ?? Math.max(1, Math.min(16, Math.floor(integrations / 2)))),
    localConcurrency: Number(process.env.BENCH_RAW_CONCURRENCY ?? 2),
  };
}

export const DISPATCH_SIZES = {
  tiny: { runs: 64, drainRuns: 64, integrations: 8, concurrency: 8, runBatch: 2, rounds: 2, latencySamples: 5 },
  full: {
    runs: 1000,
    /** Runs queued per drain round (BENCH_DRAIN_RUNS overrides): longer drains fill the week's partitions faster. */
    drainRuns: Number(process.env.BENCH_DRAIN_RUNS ?? 2000),
    integrations: 32,
    // The platform's best settings on the 2-core machine (bench/README.md, benchmark 1), as raw
    // pg-boss runs at its own: two slots fetching 16 runs each cover the 32 integrations.
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 32),
    /** Run jobs per fetch per slot (PlatformWorkerOptions.runBatchSize). */
    runBatch: Number(process.env.BENCH_RUN_BATCH ?? 16),
    rounds: 3,
    latencySamples: 40,
  },
} as const;

export async function createRawQueue(boss: PgBoss): Promise<void> {
  await boss.createQueue(RAW_QUEUE, {
    policy: 'singleton',
    expireInSeconds: DEFAULT_QUEUE_OPTIONS.expireInSeconds,
    heartbeatSeconds: DEFAULT_QUEUE_OPTIONS.heartbeatSeconds,
    retryLimit: DEFAULT_QUEUE_OPTIONS.retryLimit,
    retryDelay: 1,
    notify: true,
  });
}

/**
 * Waits until `queue` has no job left to work (created, retry or active), then checks that `n` more
 * completed than `before`. The probe reads the queue's unfinished jobs only (pg-boss's partial
 * index on them, which the order by makes the planner take: as `exists`, it chose a sequential scan
 * of every job kept, 17 000 rows per probe by the third round), so polling it every few ms while a
 * worker drains costs the database little on either side; counting the completed jobs each time
 * cost ~1.5–3.5 ms per probe as they piled up round after round, taken from the worker being
 * measured.
 */
export async function untilDrained(db: Database, queue: string, before: number, n: number, intervalMs = 5): Promise<void> {
  await until(
    `the ${queue} queue to drain`,
    async () => {
      // Prepared: Drizzle's queries go unprepared, and PostgreSQL planned this probe anew at every
      // call (over pgboss.job's partitions, ~0.5 ms of its CPU every 5 ms, taken from the side being
      // measured); prepared, it keeps one plan.
      const [row] = await db.$client.unsafe<{ pending: boolean }[]>(
        `select (select 1 from pgboss.job where name = $1 and state in ('created', 'retry', 'active')
                  order by state limit 1) is not null as pending`,
        [queue],
        { prepare: true },
      );
      return !row.pending;
    },
    30 * 60_000,
    intervalMs,
  );
  const done = (await completedJobs(db, queue)) - before;
  if (done < n) throw new Error(`${queue}: ${n - done} of ${n} jobs ended without completing`);
}

/**
 * ANALYZE, before a timed drain on either side: the database is minutes old, and a young weekly
 * partition without statistics looks nearly empty to the planner, which then scans it whole
 * instead of probing its indexes (seen: a sequential scan of 6 000 runs per fetch of 16). A
 * running system has them: autovacuum analyses a table within a minute of such growth.
 */
export async function settleStatistics(db: Database): Promise<void> {
  await db.execute(sql`analyze`);
}

export async function completedJobs(db: Database, queue: string): Promise<number> {
  const [row] = await db.execute<{ n: number }>(
    sql`select count(*)::int as n from pgboss.job where name = ${queue} and state = 'completed'`,
  );
  return row.n;
}

/** Queues `runs` runs over the no-op integrations through runNow, 8 callers at a time. */
export async function queueRuns(db: Database, boss: PgBoss, params: { runs: number; integrations: number }): Promise<void> {
  await inParallel(
    Array.from({ length: params.runs }, (_, i) => i),
    8,
    (i) => runNow(db, boss, { integration: noopName(i % params.integrations), triggeredBy: 'bench', trigger: 'api' }),
  );
}

/** Enqueues `runs` runs (8 callers at a time) and waits until all completed: runs per second, end to end. */
export async function platformThroughput(db: Database, boss: PgBoss, params: { runs: number; integrations: number }): Promise<number> {
  const before = await completedJobs(db, RUNS_QUEUE);
  const started = performance.now();
  await queueRuns(db, boss, params);
  await untilDrained(db, RUNS_QUEUE, before, params.runs, 20);
  return params.runs / ((performance.now() - started) / 1000);
}

export async function rawThroughput(db: Database, boss: PgBoss, params: { runs: number; integrations: number }): Promise<number> {
  const before = await completedJobs(db, RAW_QUEUE);
  const started = performance.now();
  await inParallel(
    Array.from({ length: params.runs }, (_, i) => i),
    8,
    (i) => boss.send(RAW_QUEUE, { n: i }, { singletonKey: noopName(i % params.integrations) }),
  );
  await untilDrained(db, RAW_QUEUE, before, params.runs, 20);
  return params.runs / ((performance.now() - started) / 1000);
}

/** Finished runs of the benchmark's integrations already in this week's partition (BENCH_HISTORY, default 0). */
export const HISTORY_RUNS = Number(process.env.BENCH_HISTORY ?? 0);

/**
 * Weeks of run partitions before this one (BENCH_WEEKS, default 0: the few a new database has).
 * A year of runs on one database is 52 weeks of partitions of runs, attempts and logs, and a
 * statement that cannot tell a run's week is planned, locked or executed over each of them.
 */
export const PAST_WEEKS = Number(process.env.BENCH_WEEKS ?? 0);

/**
 * Whether the bound below unfinished runs is raised before each timed part (BENCH_FLOOR=0: never,
 * the turn subqueries then probe every week, as before migration 0032). The product's worker
 * raises it at its start and every 5 minutes (startPruner); the benchmark's worker has no
 * maintenance loop, so it is raised here where that loop would have.
 */
export const RAISE_FLOOR = process.env.BENCH_FLOOR !== '0';

export async function raiseFloor(db: Database): Promise<void> {
  if (RAISE_FLOOR) await raiseRunFloor(db);
}

/** Creates PAST_WEEKS weeks of (empty) run partitions before the current one. */
export async function addPastWeeks(db: Database, weeks: number): Promise<void> {
  if (weeks <= 0) return;
  await db.execute(sql`select ensure_run_partitions(now() - make_interval(weeks => ${weeks}::int), ${weeks + 1}::int)`);
  await settleStatistics(db);
}

/**
 * A busy week so far: `n` finished runs of the no-op integrations created in the minutes before
 * now, in the same weekly partition as the runs the benchmark dispatches. What a run's start
 * reads must not grow with them (migration 0020); raw pg-boss has no such history to carry.
 */
export async function addHistory(db: Database, integrations: number, n: number): Promise<void> {
  if (n <= 0) return;
  const names = Array.from({ length: integrations }, (_, i) => noopName(i));
  await db.execute(sql`
    insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts,
                      created_at, started_at, finished_at)
    select gen_random_uuid(), (string_to_array(${names.join(',')}, ','))[1 + g % ${integrations}], 'api', false, 'succeeded', 'bench', 'history', 1, 3,
           now() - interval '1 minute' - g * interval '1 ms', now() - interval '1 minute', now() - interval '1 minute'
      from generate_series(1, ${n}) g`);
  await settleStatistics(db);
}

export async function runDispatch(ctx: BenchContext): Promise<BenchResult> {
  const size = DISPATCH_SIZES[ctx.size];
  const bench = await createBenchDatabase(ctx.adminUrl, 'dispatch', 20);
  const boss = createBoss(bench.url, { max: 10 });
  await boss.start();
  try {
    const handlerStarts = new Map<string, number>();
    const registry = buildRegistry(noopIntegrations(size.integrations, (runId) => handlerStarts.set(runId, performance.now())));
    const startWorker = (syncRegistry: boolean) =>
      startPlatformWorker({
        db: bench.db,
        boss,
        registry,
        workerId: 'bench-dispatch',
        concurrency: size.concurrency,
        options: { pollingIntervalSeconds: POLLING_SECONDS, scheduleSyncMs: 0, syncRegistry, runBatchSize: size.runBatch },
      });
    await createRawQueue(boss);
    const raw = rawBest(size.integrations);
    const rawStarts = new Map<string, number>();
    const workRaw = () =>
      boss.work(
        RAW_QUEUE,
        {
          ...raw,
          burstWhenBatchFull: raw.batchSize > 1,
          pollingIntervalSeconds: POLLING_SECONDS,
          notifyPollingIntervalSeconds: POLLING_SECONDS,
        },
        async (jobs) => {
          const now = performance.now();
          for (const job of jobs) rawStarts.set(job.id, now);
        },
      );

    // Worker capacity: the queue is filled first (no worker running), then one worker process
    // drains it; timed from starting the worker to the last completion. The producer's cost
    // (runNow's audited transaction, serialised by the audit chain's lock) is left out here and
    // measured with it in the end-to-end rows below.
    await (await startWorker(true)).stop({ timeoutMs: 5_000 });
    await addPastWeeks(bench.db, PAST_WEEKS);
    await addHistory(bench.db, size.integrations, HISTORY_RUNS);
    const cpuPerRun = { platform: [] as number[], baseline: [] as number[] };
    const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
    const drain = await alternate(
      size.rounds,
      async () => {
        const before = await completedJobs(bench.db, RUNS_QUEUE);
        await queueRuns(bench.db, boss, { runs: size.drainRuns, integrations: size.integrations });
        await settleStatistics(bench.db);
        await raiseFloor(bench.db);
        const started = performance.now();
        const cpu = process.cpuUsage();
        const worker = await startWorker(false);
        await untilDrained(bench.db, RUNS_QUEUE, before, size.drainRuns);
        const seconds = (performance.now() - started) / 1000;
        cpuPerRun.platform.push(cpuMs(process.cpuUsage(cpu)) / size.drainRuns);
        await worker.stop({ timeoutMs: 5_000 });
        return size.drainRuns / seconds;
      },
      async () => {
        const before = await completedJobs(bench.db, RAW_QUEUE);
        await inParallel(
          Array.from({ length: size.drainRuns }, (_, i) => i),
          8,
          (i) => boss.send(RAW_QUEUE, { n: i }, { singletonKey: noopName(i % size.integrations) }),
        );
        await settleStatistics(bench.db);
        const started = performance.now();
        const cpu = process.cpuUsage();
        const id = await workRaw();
        await untilDrained(bench.db, RAW_QUEUE, before, size.drainRuns);
        const seconds = (performance.now() - started) / 1000;
        cpuPerRun.baseline.push(cpuMs(process.cpuUsage(cpu)) / size.drainRuns);
        await boss.offWork(RAW_QUEUE, { id, wait: true });
        return size.drainRuns / seconds;
      },
    );

    const worker = await startWorker(false);
    await workRaw();

    // Warm-up: connections, prepared plans, JIT of both paths.
    await platformThroughput(bench.db, boss, { runs: size.integrations, integrations: size.integrations });
    await rawThroughput(bench.db, boss, { runs: size.integrations, integrations: size.integrations });
    await settleStatistics(bench.db);
    await raiseFloor(bench.db);

    const throughput = await alternate(
      size.rounds,
      () => platformThroughput(bench.db, boss, size),
      () => rawThroughput(bench.db, boss, size),
    );

    // Latency from the call to the handler starting, one at a time on an idle worker; a random
    // pause between samples spreads them over the polling phase.
    const enqueueMs = { platform: [] as number[], baseline: [] as number[] };
    const latency = await alternate(
      size.latencySamples,
      async () => {
        await sleep(Math.random() * POLLING_SECONDS * 1000);
        const t0 = performance.now();
        const { runId } = await runNow(bench.db, boss, { integration: noopName(0), triggeredBy: 'bench', trigger: 'api' });
        enqueueMs.platform.push(performance.now() - t0);
        const started = await until('the platform handler to start', async () => handlerStarts.get(runId), 60_000, 2);
        await until(
          'the run to finish',
          async () => {
            const [r] = await bench.db.execute<{ status: string }>(sql`select status from runs where id = ${runId}`);
            return r.status === 'succeeded';
          },
          60_000,
          5,
        );
        return started - t0;
      },
      async () => {
        await sleep(Math.random() * POLLING_SECONDS * 1000);
        const t0 = performance.now();
        const id = await boss.send(RAW_QUEUE, {}, { singletonKey: noopName(0) });
        enqueueMs.baseline.push(performance.now() - t0);
        if (!id) throw new Error('pg-boss refused the latency job');
        const started = await until('the raw handler to start', async () => rawStarts.get(id), 60_000, 2);
        await until('the raw job to finish', async () => (await boss.getJobById(RAW_QUEUE, id))?.state === 'completed', 60_000, 5);
        return started - t0;
      },
    );
    await worker.stop({ timeoutMs: 5_000 });
    await boss.offWork(RAW_QUEUE, { wait: true });

    const p = median(throughput.platform);
    const b = median(throughput.baseline);
    const dp = median(drain.platform);
    const db = median(drain.baseline);
    const text = [
      `${size.runs} runs over ${size.integrations} no-op integrations${HISTORY_RUNS > 0 ? ` (${HISTORY_RUNS} finished runs of them this week already)` : ''}${PAST_WEEKS > 0 ? `, ${PAST_WEEKS} weeks of run partitions before this one` : ''}, one process; platform: worker concurrency ${size.concurrency}, batch ${size.runBatch}; raw pg-boss: batch ${raw.batchSize}, concurrency ${raw.localConcurrency}; notify on both, polling ${POLLING_SECONDS} s as the fallback; ${size.rounds} alternating rounds`,
      table(
        ['', 'platform (runNow → run succeeded)', 'raw pg-boss (send → job completed)', 'platform / raw'],
        [
          [`worker drains ${size.drainRuns} queued runs, runs/s (median)`, dp, db, ratioText(dp / db, 0.5)],
          [
            'worker drain, each round',
            drain.platform.map((v) => v.toFixed(1)).join(' '),
            drain.baseline.map((v) => v.toFixed(1)).join(' '),
            '',
          ],
          [
            'worker drain, Node CPU ms per run (median)',
            median(cpuPerRun.platform).toFixed(2),
            median(cpuPerRun.baseline).toFixed(2),
            (median(cpuPerRun.platform) / median(cpuPerRun.baseline)).toFixed(1),
          ],
          [`end to end, ${size.runs} runs (8 callers), runs/s (median)`, p, b, (p / b).toFixed(2)],
          [
            'end to end, each round',
            throughput.platform.map((v) => v.toFixed(1)).join(' '),
            throughput.baseline.map((v) => v.toFixed(1)).join(' '),
            '',
          ],
          [
            'latency to handler start p50, ms',
            median(latency.platform),
            median(latency.baseline),
            (median(latency.platform) / median(latency.baseline)).toFixed(2),
          ],
          [
            'of which the call (runNow: run, job, audit, commit / send) p50, ms',
            median(enqueueMs.platform),
            median(enqueueMs.baseline),
            '',
          ],
          [
            'latency to handler start p95, ms',
            percentile(latency.platform, 95),
            percentile(latency.baseline, 95),
            (percentile(latency.platform, 95) / percentile(latency.baseline, 95)).toFixed(2),
          ],
        ],
      ),
    ].join('\n');
    return {
      name: 'dispatch',
      text: `${text}\nworker capacity goal ≥ 500 runs/s per worker process: ${dp >= 500 ? 'met' : 'MISSED'}`,
      summary: [
        ['1 dispatch: worker drain, runs/s', dp, db, ratioText(dp / db, 0.5)],
        ['1 dispatch: end to end, runs/s', p, b, (p / b).toFixed(2)],
        ['1 dispatch: start latency p50, ms (goal < 20)', median(latency.platform), median(latency.baseline), ''],
        ['1 dispatch: start latency p95, ms (goal < 50)', percentile(latency.platform, 95), percentile(latency.baseline, 95), ''],
      ],
    };
  } finally {
    await boss.stop({ graceful: false }).catch(() => {});
    await bench.drop();
  }
}
