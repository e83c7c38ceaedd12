import type { Db as BossDb, PgBoss } from 'pg-boss';
import type postgres from 'postgres';
import { postgresClient, type DatabaseOrTransaction } from '../../../db/client';
import { PLATFORM_EVENT_JOB_OPTIONS, PLATFORM_EVENTS_QUEUE, type EventSender, type PlatformEvent } from './events';

/**
 * The platform's pg-boss queues and how jobs are put on them.
 *
 * - `junction-runs`: one job per attempt of a run (data: { runId }). Policy `singleton` with the
 *   integration name as singletonKey: pg-boss's unique index allows ONE active job per key across
 *   every worker process, so one run of an integration executes at a time and the others wait.
 * - `junction-schedule`: pg-boss cron schedules put a job here per tick (data: { integration });
 *   the worker turns it into a run unless the integration is paused or the tick is from before its
 *   last schedule change or resume (startScheduledRun).
 * - `platform-events`: what the execution core tells alerting (see events.ts).
 *
 * The runs and schedule queues are created with `notify: true`: pg-boss inlines a `pg_notify` in the
 * statement that inserts a job ready now, so the wake-up commits with the caller's transaction (a
 * rolled-back `runNow` wakes no one) and workers listening (createBoss: `useListenNotify`) fetch at
 * once instead of at their next poll. The poll stays as the fallback for delayed jobs (retries,
 * deferrals), a lost listener connection and a process whose queue cache predates the flag.
 */
export const RUNS_QUEUE = 'junction-runs';
export const SCHEDULE_QUEUE = 'junction-schedule';

export interface RunJobData {
  runId: string;
  /**
   * Why the run waits for this job, when an open breaker deferred it ('breaker'; absent for every
   * other wait: a retry delay, its turn). A reset of the breaker wakes only these
   * (breaker.ts): a run waiting for its turn would be delivered only to wait again. A job made
   * before this mark existed is known there by the deferral's attempt instead.
   */
  deferredBy?: 'breaker';
}
export interface ScheduleJobData {
  integration: string;
}

export interface QueueOptions {
  /** Longest an attempt may run before pg-boss fails its job and another worker takes it over. */
  expireInSeconds?: number;
  /**
   * Workers refresh a heartbeat this often (x2): a worker killed mid-attempt is noticed after this
   * many seconds instead of after the expiry. null = no heartbeat (tests use a short expiry instead).
   * Only applied when the queue is first created (pg-boss cannot change it later).
   */
  heartbeatSeconds?: number | null;
  /** Re-deliveries of a run job whose worker died or whose runner hit an infrastructure error. */
  retryLimit?: number;
}

export const DEFAULT_QUEUE_OPTIONS = { expireInSeconds: 4 * 3600, heartbeatSeconds: 30, retryLimit: 10 } as const;

const ensured = new WeakMap<PgBoss, Promise<void>>();

/** Creates the platform's queues when missing (idempotent); with options, also applies them. */
export async function ensurePlatformQueues(boss: PgBoss, options?: QueueOptions): Promise<void> {
  if (!options) {
    let done = ensured.get(boss);
    if (!done) {
      done = createQueues(boss, {});
      ensured.set(boss, done);
      done.catch(() => ensured.delete(boss));
    }
    return done;
  }
  await createQueues(boss, options);
  ensured.set(boss, Promise.resolve());
}

async function createQueues(boss: PgBoss, options: QueueOptions) {
  const o = { ...DEFAULT_QUEUE_OPTIONS, ...options };
  await boss.createQueue(RUNS_QUEUE, {
    policy: 'singleton',
    expireInSeconds: o.expireInSeconds,
    ...(o.heartbeatSeconds ? { heartbeatSeconds: o.heartbeatSeconds } : {}),
    retryLimit: o.retryLimit,
    retryDelay: 1,
    notify: true,
  });
  // Queues created before wake-ups existed get them now (createQueue leaves an existing queue alone).
  for (const name of [RUNS_QUEUE, SCHEDULE_QUEUE]) {
    const queue = await boss.getQueue(name);
    if (queue && !queue.notify) await boss.updateQueue(name, { notify: true });
  }
  if (options.expireInSeconds !== undefined || options.retryLimit !== undefined) {
    await boss.updateQueue(RUNS_QUEUE, { expireInSeconds: o.expireInSeconds, retryLimit: o.retryLimit });
  }
  await boss.createQueue(SCHEDULE_QUEUE, { policy: 'standard', retryLimit: 3, retryDelay: 5, expireInSeconds: 300, notify: true });
  await boss.createQueue(PLATFORM_EVENTS_QUEUE, { policy: 'standard' });
}

/**
 * pg-boss statements executed on the caller's Drizzle transaction, so jobs commit (or not) with it.
 * Each is prepared (named) on its connection: pg-boss's texts are fixed per queue and operation, and
 * parsed and planned anew at every call they cost ~0.7 ms of the database's time per job sent, a
 * tenth of a `runNow` (issue 18). Arrays go as array literals (pg-boss casts them: `$2::uuid[]`), so
 * a statement's text does not change with their length. A statement without parameters carries its
 * values in its text (pg-boss's flows), so it is not kept.
 */
export function bossDb(tx: DatabaseOrTransaction): BossDb {
  const client = postgresClient(tx);
  return {
    async executeSql(text, values = []) {
      const rows = await client.unsafe(text, values.map(arrayParameter) as postgres.ParameterOrJSON<never>[], {
        prepare: values.length > 0,
      });
      return { rows: [...rows] };
    },
  };
}

/**
 * A pg-boss array parameter as a PostgreSQL array literal (its statements cast them: `$2::uuid[]`);
 * an object (a job's failure output, which pg-boss hands over unserialised) as its JSON, as pg does.
 */
export function arrayParameter(value: unknown): unknown {
  if (value === undefined) return null;
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date) && !ArrayBuffer.isView(value)) {
    return JSON.stringify(value);
  }
  if (!Array.isArray(value)) return value;
  return `{${value.map((item) => (item === null ? 'NULL' : `"${String(item).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`)).join(',')}}`;
}

/** An event sender whose jobs commit with `tx`. */
export function txEventSender(boss: PgBoss, tx: DatabaseOrTransaction): EventSender {
  const db = bossDb(tx);
  return {
    async send(queue, data, options) {
      await ensurePlatformQueues(boss);
      return boss.send(queue, data, { ...(options ?? {}), db });
    },
  };
}

/**
 * Announces a refused event to alerting, inside `tx` (which marked it failed and set its
 * refusal_unannounced_at): ONE queued events.failed job per integration (pg-boss upsert by
 * singletonKey: a job still waiting is edited, not doubled), marked `collect`, so a burst of 300
 * refusals is one job, not 300. Alerting counts, when it handles the job, every refusal not yet
 * announced; one arriving while the job is being handled (no longer waiting) queues the next job.
 */
export async function announceRefusal(
  boss: PgBoss,
  tx: DatabaseOrTransaction,
  event: Extract<PlatformEvent, { type: 'events.failed' }>,
): Promise<void> {
  await ensurePlatformQueues(boss);
  await boss.upsert(PLATFORM_EVENTS_QUEUE, { ...event, collect: true } satisfies PlatformEvent, {
    ...PLATFORM_EVENT_JOB_OPTIONS,
    singletonKey: `events.failed:${event.integration}`,
    db: bossDb(tx),
  });
}

/** Enqueues the job carrying a run's next attempt, inside `tx` (the run row is written in the same transaction). */
export async function sendRunJob(
  boss: PgBoss,
  tx: DatabaseOrTransaction,
  params: { runId: string; jobId: string; integration: string; startAfter?: Date; priority?: number; deferredBy?: 'breaker' },
): Promise<void> {
  await ensurePlatformQueues(boss);
  const data: RunJobData = { runId: params.runId, ...(params.deferredBy ? { deferredBy: params.deferredBy } : {}) };
  await boss.send(RUNS_QUEUE, data, {
    id: params.jobId,
    singletonKey: params.integration,
    ...(params.startAfter ? { startAfter: params.startAfter } : {}),
    ...(params.priority ? { priority: params.priority } : {}),
    db: bossDb(tx),
  });
}
