import { and, eq, inArray } from 'drizzle-orm';
import type { Job, JobResult, PgBoss } from 'pg-boss';
import type { Database } from '../../../db/client';
import { runs } from '../../../db/schema';
import type { IntegrationDefinition, MapperFactory, SecretsProvider } from '../contract';
import { CancelledError, databaseReason } from '../errors';
import type { AttemptLogOptions } from '../log';
import { syncRegistry } from '../registry';
import type { HttpDefaults } from '../resilience/http';
import { startBulkDispatcher } from '../triggers/bulk-dispatch';
import { syncSchedules } from '../triggers/schedules';
import { startScheduledRun } from '../triggers/triggers';
import { DEFAULT_LIVENESS_INTERVAL_MS, startLiveness } from './liveness';
import { ensurePlatformQueues, RUNS_QUEUE, SCHEDULE_QUEUE, type QueueOptions, type RunJobData, type ScheduleJobData } from './queue';
import { executeRunBatch, stackFrames, type RunJobOutcome, type RunnerDeps } from './runner';

/**
 * The platform worker inside a worker process: syncs the registry and schedules, then works the
 * run and schedule queues. Any number of these, in any number of processes, share one PostgreSQL.
 */

export interface PlatformWorker {
  /** Graceful: stop fetching, let running attempts finish; after `timeoutMs` release them (re-queued, no attempt used). */
  stop(options?: { timeoutMs?: number }): Promise<void>;
  /** Runs executing in this worker now. */
  activeRuns(): string[];
}

/**
 * How long a worker process keeps an unused database connection (seconds). Each connection holds
 * the runner's prepared statements and their plans, which are costly to rebuild: a connection's
 * first executions are planned over every weekly partition (20-28 ms each at 52 weeks). With the
 * pool's 30 s default, a burst of runs after half a minute of quiet paid that again on every
 * connection: drains after 35 s idle at 52 weeks ran at 0.56 (32 x 16) and 0.68 (the default
 * 4 x 1) of the rate of a pool that kept its connections (bench/README.md, 1). postgres.js's TCP
 * keepalive (60 s) holds idle connections open through firewalls.
 */
export const WORKER_IDLE_CONNECTION_SECONDS = 600;

export interface PlatformWorkerOptions {
  /** How often an idle worker polls for jobs (pg-boss minimum 0.5). Default 1. */
  pollingIntervalSeconds?: number;
  /** How often running attempts check for cancellation requests. Default 1000. */
  cancelPollMs?: number;
  /** How often pg-boss schedules are re-synced from the integrations table (0 = only at start). Default 60 000. */
  scheduleSyncMs?: number;
  /** Run queue options (expiry, heartbeat, re-deliveries). */
  queue?: QueueOptions;
  http?: HttpDefaults;
  progressIntervalMs?: number;
  log?: AttemptLogOptions;
  /** How often held bulk-retry runs are released at their pace (0 = never, in this worker). Default 2 000. */
  bulkDispatchMs?: number;
  /** Upsert the registry into the integrations table at start. Default true. */
  syncRegistry?: boolean;
  /** How often this worker looks for attempts whose worker is gone (liveness.ts). Default 1 000. */
  livenessIntervalMs?: number;
  /** How long a runs-queue job may be active without its worker's lock before it is taken for lost (liveness.ts). Default 5 000. */
  orphanedJobGraceMs?: number;
  /** Interruptions (worker lost, database unavailable) after which a run fails. Default 10. */
  maxInterruptions?: number;
  /**
   * How long a handler may go on after its attempt's time limit (defaults.attemptTimeout) aborted
   * ctx.signal before the worker stops waiting for it and closes the attempt. Default 30 000.
   */
  attemptTimeoutGraceMs?: number;
  /**
   * Run jobs fetched at once per slot (default 1). Above 1, each fetch takes up to this many jobs
   * (at most one per integration: the queue's singleton policy) and runs them side by side, with
   * `concurrency / runBatchSize` slots, so the attempts at once stay within `concurrency`. One
   * fetch then serves several runs, but a slot fetches again only when all of its batch is done:
   * for many short runs (event-rate dispatch), not for long ones.
   */
  runBatchSize?: number;
}

export interface StartPlatformWorkerParams {
  db: Database;
  boss: PgBoss;
  registry: Map<string, IntegrationDefinition>;
  workerId: string;
  secrets?: SecretsProvider;
  /** Attempts this worker executes at once (different integrations; one run per integration at a time). */
  concurrency?: number;
  mapper?: MapperFactory;
  options?: PlatformWorkerOptions;
}

export async function startPlatformWorker(params: StartPlatformWorkerParams): Promise<PlatformWorker> {
  const { db, boss, registry, workerId } = params;
  const options = params.options ?? {};
  const polling = Math.max(0.5, options.pollingIntervalSeconds ?? 1);

  await ensurePlatformQueues(boss, options.queue ?? {});
  if (options.syncRegistry !== false) await syncRegistry(db, { registry });
  await syncSchedules(db, boss, { registry });

  const active = new Map<string, AbortController>();
  const liveness = await startLiveness({
    db,
    boss,
    workerId,
    intervalMs: options.livenessIntervalMs ?? DEFAULT_LIVENESS_INTERVAL_MS,
    orphanedJobGraceMs: options.orphanedJobGraceMs,
    maxInterruptions: options.maxInterruptions,
    log: (message) => console.log(`[worker] ${message}`),
    // This worker can no longer prove its attempts alive, and another may be recovering them: stop them.
    onSessionLost: (message) => {
      for (const [runId, control] of active) {
        if (!control.signal.aborted) control.abort(new CancelledError(`run ${runId} was interrupted: ${message}`, 'interrupted'));
      }
    },
  });
  const deps: RunnerDeps = {
    db,
    boss,
    registry,
    workerId,
    secrets: params.secrets,
    mapper: params.mapper,
    http: options.http,
    progressIntervalMs: options.progressIntervalMs,
    log: options.log,
    liveness,
    maxInterruptions: options.maxInterruptions,
    attemptTimeoutGraceMs: options.attemptTimeoutGraceMs,
  };
  const running = new Set<Promise<unknown>>();
  let stopping = false;

  // Dispatch: a job put on the queue wakes idle slots through LISTEN/NOTIFY (queue.ts, boss.ts);
  // the poll (same interval with or without a listener) is the fallback for delayed jobs and a
  // lost listener. A slot that has just worked a job looks for the next one at once (below)
  // instead of sleeping a poll interval: the next run of the same integration only becomes
  // fetchable when this one's job completes, and no NOTIFY says so.
  const workOptions = { batchSize: 1, pollingIntervalSeconds: polling, notifyPollingIntervalSeconds: polling };
  let runWorkId = '';
  const fetchAgainAfterJob = () => {
    // Busy slots of this worker: the one finishing now re-fetches on return; another busy one
    // would re-fetch after its own job anyway. Idle slots are left asleep (no empty fetches).
    for (const slot of boss.getWipData()) {
      if (slot.workId === runWorkId && slot.count > 0) boss.notifyWorker(slot.id);
    }
  };
  const concurrency = Math.max(1, params.concurrency ?? 1);
  const batchSize = Math.max(1, Math.min(options.runBatchSize ?? 1, concurrency));
  // The runs of one fetch: each job settles on its own, so a runner error fails (and retries) only
  // its job. A job its run's outcome already completed (a success, in the same transaction) is
  // reported 'settled' (a pg-boss patch): its completion after the handler would find nothing left
  // to do, and its round trip is one of the few each fetch spends (issue 18).
  const runJobs = async (jobs: Job<RunJobData>[]): Promise<JobResult[]> => {
    const completed = new Set<string>();
    // Held until the jobs' work is done: a worker killed before an attempt starts, or after a
    // failed attempt but before its job completes, leaves a job whose lock the sweep finds free.
    const jobIds = jobs.map((job) => job.id);
    liveness.holdJobs(jobIds);
    const params = jobs.map((job) => {
      const control = new AbortController();
      active.set(job.data.runId, control);
      return {
        jobId: job.id,
        jobRetryCount: job.retryCount,
        runId: job.data.runId,
        jobSignal: job.signal,
        control: control.signal,
        jobCompleted: () => completed.add(job.id),
      };
    });
    const execution = executeRunBatch(deps, params);
    running.add(execution);
    let settled: PromiseSettledResult<RunJobOutcome>[];
    try {
      settled = await execution;
    } finally {
      running.delete(execution);
      liveness.releaseJobs(jobIds);
      for (const job of jobs) active.delete(job.data.runId);
      if (!stopping) fetchAgainAfterJob();
    }
    return settled.map((result, i): JobResult => {
      const id = jobs[i].id;
      if (result.status === 'rejected') {
        // Not the handler's error (the runner records those): the platform's own, or the database
        // gone. The run is recovered as interrupted; the worker's log is where its cause is read.
        // A failed statement's own message is its SQL and parameters: what the database said is its cause.
        const reason = result.reason as unknown;
        const why = databaseReason(reason);
        const where = stackFrames(reason);
        console.error(
          `[worker] run ${jobs[i].data.runId}: its job failed in the platform, the run is recovered as interrupted: ${why}${where ? `\n${where}` : ''}`,
        );
        return { id, status: 'failed', output: { error: why } };
      }
      return completed.has(id) ? { id, status: 'settled' } : { id, status: 'completed', output: { outcome: result.value } };
    });
  };
  // offWork by id: other platform workers may share this pg-boss instance.
  runWorkId = await boss.work<RunJobData>(
    RUNS_QUEUE,
    { ...workOptions, batchSize, perJobResults: true, localConcurrency: Math.ceil(concurrency / batchSize) },
    runJobs,
  );
  // With metadata: the handler needs when pg-boss sent the tick (createdOn) to know which tick it is.
  const scheduleWorkOptions = { ...workOptions, includeMetadata: true as const };
  const scheduleWorkId = await boss.work<ScheduleJobData, { runId: string | null }, typeof scheduleWorkOptions>(
    SCHEDULE_QUEUE,
    scheduleWorkOptions,
    async ([job]) => {
      const started = await startScheduledRun(db, boss, { integration: job.data.integration, sentAt: job.createdOn });
      return { runId: started?.runId ?? null };
    },
  );

  // Cancellation crosses processes through the runs row: cancelRun marks it, the executing worker aborts.
  const cancelWatch = setInterval(async () => {
    if (active.size === 0) return;
    try {
      const cancelled = await db
        .select({ id: runs.id })
        .from(runs)
        .where(and(inArray(runs.id, [...active.keys()]), eq(runs.status, 'cancelled')));
      for (const { id } of cancelled) {
        const control = active.get(id);
        if (control && !control.signal.aborted) control.abort(new CancelledError(`run ${id} was cancelled`, 'cancelled'));
      }
    } catch {
      // The next poll tries again; a database outage must not stop the worker.
    }
  }, options.cancelPollMs ?? 1_000);
  cancelWatch.unref();

  const scheduleSyncMs = options.scheduleSyncMs ?? 60_000;
  const scheduleSync =
    scheduleSyncMs > 0
      ? setInterval(() => {
          if (!stopping)
            syncSchedules(db, boss, { registry }).catch((error) =>
              console.error(`[worker] schedule sync failed: ${databaseReason(error)}`),
            );
        }, scheduleSyncMs)
      : undefined;
  scheduleSync?.unref();
  const bulkDispatchMs = options.bulkDispatchMs ?? 2_000;
  const bulkDispatcher = bulkDispatchMs > 0 ? startBulkDispatcher(db, boss, { intervalMs: bulkDispatchMs }) : undefined;

  return {
    activeRuns: () => [...active.keys()],
    async stop(stopOptions = {}) {
      if (stopping) return;
      stopping = true;
      clearInterval(cancelWatch);
      if (scheduleSync) clearInterval(scheduleSync);
      await bulkDispatcher?.stop();
      const drained = Promise.allSettled([
        boss.offWork(RUNS_QUEUE, { id: runWorkId, wait: true }),
        boss.offWork(SCHEDULE_QUEUE, { id: scheduleWorkId, wait: true }),
      ]);
      const timeoutMs = stopOptions.timeoutMs ?? 30_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        drained.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        for (const [runId, control] of active) {
          control.abort(new CancelledError(`worker ${workerId} is stopping: run ${runId} goes back to the queue`, 'released'));
        }
        // Released runs record their hand-back; a handler that ignores its signal is not waited for long.
        await Promise.race([Promise.allSettled([...running]), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      }
      // Last: an attempt still running here loses its lock now, and another worker recovers it.
      await liveness.stop();
    },
  };
}
