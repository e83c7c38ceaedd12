import { sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import postgres from 'postgres';
import type { Database } from '../../../db/client';
import { BOSS_SCHEMA } from './boss';
import { RUNS_QUEUE } from './queue';
import { DEFAULT_MAX_INTERRUPTIONS, jobLivenessKey, recoverLostAttempt, recoverOrphanedJob } from './runner';

/**
 * Worker liveness without heartbeats: every running attempt holds a session-level advisory lock
 * (keyed by the attempt id) on a dedicated connection of the worker executing it. PostgreSQL
 * releases the lock the moment that connection ends: the process was killed, crashed or lost the
 * database. Every worker sweeps every second or so with one cheap query (the running attempts,
 * from a partial index) and, per attempt not its own, a try-lock in a transaction: a lock that can
 * be taken means the attempt's worker is gone, and the attempt is recovered at once
 * (runner.recoverLostAttempt: recorded as interrupted, the run re-queued with the same attempt
 * number, the dead worker's job cancelled so the integration's queue slot frees at once).
 *
 * Ordering makes the check race-free: a worker takes the lock BEFORE the attempt row commits, and
 * releases it only AFTER the attempt's outcome commits, so a lock that can be taken while the row
 * still says 'running' means nobody owns the attempt (the recovery is fenced on 'running' too).
 * The batch path does not wait for its hold before the statement that starts its attempts: that
 * statement starts only the attempts whose lock it finds held by another session, which only this
 * session takes (runner.loadAndStartRuns), and leaves the others to a start after the hold.
 *
 * A run's job can also be active with no attempt running: its worker fetched it and has not
 * started the attempt yet (loading the run, waiting for its turn, a breaker's deferral), or has
 * recorded a failed attempt and not yet completed the job. A worker killed there left the job
 * active, and the queue lets one job per integration be active: the integration stood still until
 * pg-boss's own heartbeat (30 s, then a retry) noticed. So a worker also holds a lock per job from
 * the moment it is handed the job until the job's work is done (`holdJobs`), and the sweep takes
 * the runs queue's jobs active for longer than a grace period (a fetch takes the job's lock within
 * milliseconds) whose lock is free for lost (runner.recoverOrphanedJob: the job cancelled so the
 * slot frees, and the run, when that job was still its own and no attempt of it runs, re-queued at
 * the head of its line, without using an attempt).
 *
 * A worker whose own liveness session breaks (database down or restarted) stops its attempts
 * (`onSessionLost`): their locks are gone, so another worker may already be recovering them, and
 * two executions of one run must never overlap.
 */

export const DEFAULT_LIVENESS_INTERVAL_MS = 1_000;
/** How long a runs-queue job may be active without its worker's lock before the sweep takes it for lost. */
export const DEFAULT_ORPHANED_JOB_GRACE_MS = 5_000;
/** How long a finished attempt's lock may wait to be released with others (see release). */
const RELEASE_DELAY_MS = 20;

export interface Liveness {
  /** Takes the attempt's lock on this worker's liveness session; call before the attempt row commits. */
  hold(attemptId: string): Promise<void>;
  /** hold for several attempts in one statement (a batch's). */
  holdMany(attemptIds: string[]): Promise<void>;
  /** Releases it (batched with others, within a few ms); call after the attempt's outcome has committed (or when it was never started). */
  release(attemptId: string): Promise<void>;
  /**
   * Takes the locks of jobs this worker was handed, with the next hold's statement (the runner's,
   * in the same tick) or on their own right after; call as soon as the jobs are fetched.
   */
  holdJobs(jobIds: string[]): void;
  /** Releases them (batched, as release); call when the jobs' work is done. */
  releaseJobs(jobIds: string[]): void;
  stop(): Promise<void>;
}

export interface LivenessParams {
  db: Database;
  boss: PgBoss;
  workerId: string;
  /** How often this worker sweeps for lost attempts and checks its own session. */
  intervalMs?: number;
  /** Interruptions after which a run fails (a poison run that keeps killing its workers). */
  maxInterruptions?: number;
  /** How long a runs-queue job may be active without its worker's lock before it is taken for lost. */
  orphanedJobGraceMs?: number;
  /** Called once per loss of this worker's liveness session: stop the attempts it executes. */
  onSessionLost(message: string): void;
  /** Logs recoveries and session trouble. */
  log?: (message: string) => void;
}

export async function startLiveness(params: LivenessParams): Promise<Liveness> {
  const { db } = params;
  const log = params.log ?? (() => {});
  // One connection that lives as long as the process: no idle timeout, no lifetime recycling
  // (either would drop the locks of attempts that are still running).
  const session = postgres({
    ...db.$client.options,
    max: 1,
    idle_timeout: 0,
    max_lifetime: 0,
    // Its own reconnect counter (the pool's options object carries a shared one).
    shared: { retries: 0, typeArrayMap: {} },
    connection: { ...db.$client.options.connection, application_name: 'junction-liveness' },
  } as unknown as postgres.Options<Record<string, never>>);
  const held = new Set<string>();
  const graceMs = params.orphanedJobGraceMs ?? DEFAULT_ORPHANED_JOB_GRACE_MS;
  let sessionPid: number | null = null;
  let sessionLost = false;
  let stopped = false;

  const lost = (message: string) => {
    // The locks of the attempts running here are gone with the old session.
    held.clear();
    if (sessionLost) return;
    sessionLost = true;
    log(`liveness session lost (${message}): stopping the attempts running here; they are recovered without using an attempt`);
    params.onSessionLost(`database unavailable: ${message}`);
  };

  /** The session's backend pid; a different one than before means the connection was replaced. */
  const checkSession = async (): Promise<number> => {
    const [row] = await session<{ pid: number }[]>`select pg_backend_pid() as pid`;
    if (sessionPid !== null && row.pid !== sessionPid) lost('the database connection was re-established, so its locks were released');
    sessionPid = row.pid;
    sessionLost = false;
    return row.pid;
  };
  await checkSession();

  const sweep = async () => {
    try {
      await checkSession();
    } catch (error) {
      lost((error as Error).message || 'the liveness connection failed');
      return;
    }
    try {
      const running = await db.execute<{ id: string }>(
        sql`select id from attempts where outcome = 'running' order by started_at limit 200`,
      );
      for (const { id } of running) {
        if (held.has(id) || stopped) continue;
        const outcome = await recoverLostAttempt(
          { db, boss: params.boss, maxInterruptions: params.maxInterruptions ?? DEFAULT_MAX_INTERRUPTIONS },
          { attemptId: id, recoveredBy: params.workerId },
        );
        if (outcome === 'recovered' || outcome === 'failed')
          log(`attempt ${id}: its worker is gone; run ${outcome === 'failed' ? 'failed (too many interruptions)' : 're-queued'}`);
      }
      // Jobs with an attempt running are the attempt sweep's (above): a long attempt costs no
      // transaction here, sweep after sweep.
      const orphaned = await db.execute<{ id: string; run_id: string | null }>(sql`
        select j.id::text as id, j.data->>'runId' as run_id from ${sql.identifier(BOSS_SCHEMA)}.job j
         where j.name = ${RUNS_QUEUE} and j.state = 'active' and j.started_on < now() - make_interval(secs => ${graceMs / 1000})
           and not exists (select 1 from attempts a where a.outcome = 'running' and a.job_id = j.id::text)
         order by j.started_on limit 200`);
      for (const job of orphaned) {
        if (held.has(jobLivenessKey(job.id)) || stopped) continue;
        const outcome = await recoverOrphanedJob({ db, boss: params.boss }, { jobId: job.id, runId: job.run_id, graceMs });
        if (outcome === 'recovered') log(`job ${job.id}: its worker is gone before the run's attempt started; run ${job.run_id} re-queued`);
        if (outcome === 'released') log(`job ${job.id}: its worker is gone after the run's work was recorded; job cancelled`);
      }
    } catch {
      // The database is unreachable: the next sweep tries again.
    }
  };

  let sweeping: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    sweeping = sweeping.then(sweep);
  }, params.intervalMs ?? DEFAULT_LIVENESS_INTERVAL_MS);
  timer.unref();

  // Locks of finished attempts, released together: with the next hold's statement or after a few
  // milliseconds, so a busy worker does not spend a round trip per attempt on its unlock. Late is
  // harmless: a sweep only recovers attempts still 'running', and this attempt's outcome has committed.
  let toRelease: string[] = [];
  let releaseTimer: NodeJS.Timeout | undefined;
  let releasing: Promise<unknown> = Promise.resolve();
  const takeReleases = () => {
    if (releaseTimer) clearTimeout(releaseTimer);
    releaseTimer = undefined;
    const ids = toRelease;
    toRelease = [];
    return ids;
  };
  const flushReleases = () => {
    const ids = takeReleases();
    if (ids.length === 0) return releasing;
    releasing =
      session`select count(pg_advisory_unlock(hashtextextended(x, 0))) from unnest(string_to_array(${ids.join(',')}::text, ',')) x`.catch(
        () => {
          // The session is gone, and the locks with it.
        },
      );
    return releasing;
  };

  // Job locks waiting for the next hold's statement (holdJobs).
  let pendingJobs: string[] = [];
  const holdMany = async (attemptIds: string[]) => {
    const keys = pendingJobs.length > 0 ? [...pendingJobs, ...attemptIds] : attemptIds;
    pendingJobs = [];
    for (const id of keys) held.add(id);
    const releases = takeReleases();
    let row: { pid: number };
    try {
      // The unlocks run first (the scalar subquery), then the locks of every attempt, in one statement.
      [row] = await session<{ pid: number }[]>`
        select pg_backend_pid() as pid,
               (select count(pg_advisory_unlock(hashtextextended(x, 0))) from unnest(string_to_array(${releases.join(',')}::text, ',')) x) as released,
               (select count(pg_advisory_lock(hashtextextended(x, 0))) from unnest(string_to_array(${keys.join(',')}::text, ',')) x) as locked`;
    } catch (error) {
      for (const id of keys) held.delete(id);
      throw error;
    }
    if (sessionPid !== null && row.pid !== sessionPid) {
      // Reconnected since the last check: the other attempts' locks are gone (these are fresh).
      lost('the database connection was re-established, so its locks were released');
      for (const id of keys) held.add(id);
      sessionPid = row.pid;
      sessionLost = false;
    }
  };

  const release = (key: string) => {
    if (!held.delete(key)) return;
    const pending = pendingJobs.indexOf(key);
    if (pending >= 0) {
      // Never locked: nothing to unlock.
      pendingJobs.splice(pending, 1);
      return;
    }
    toRelease.push(key);
    releaseTimer ??= setTimeout(() => void flushReleases(), RELEASE_DELAY_MS);
  };

  return {
    hold: (attemptId) => holdMany([attemptId]),
    holdMany,
    async release(attemptId) {
      release(attemptId);
    },
    holdJobs(jobIds) {
      if (jobIds.length === 0) return;
      const keys = jobIds.map(jobLivenessKey);
      for (const key of keys) held.add(key);
      pendingJobs.push(...keys);
      // The runner's hold comes in this same tick and takes them; otherwise they go on their own.
      setImmediate(() => {
        if (pendingJobs.length > 0) holdMany([]).catch(() => {});
      });
    },
    releaseJobs(jobIds) {
      for (const id of jobIds) release(jobLivenessKey(id));
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await sweeping.catch(() => {});
      await flushReleases();
      await session.end({ timeout: 5 });
    },
  };
}
