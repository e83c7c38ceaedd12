import { asc, inArray, sql } from 'drizzle-orm';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { migrationStatus } from '../../../db/migrate';
import { runs } from '../../../db/schema';
import { databaseReason } from '../errors';
import { latestHeartbeat } from '../execution/heartbeat';
import { ACTIVE_RUN_STATUSES } from '../run-status';

export interface CheckResult {
  ok: boolean;
  detail: string;
}

export interface Health {
  ok: boolean;
  database: CheckResult;
  migrations: CheckResult;
  worker: CheckResult;
}

const WORKER_STALE_MS = 60_000;

function timeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000}s`)), ms).unref()),
  ]);
}

/**
 * Runs whose week had no partition when they were created sit in the DEFAULT partition (migration
 * 0016). Not an outage (they are stored, found and pruned like the others), but the weekly
 * partitions were not created ahead: said on the health check, read by the console and monitors.
 */
async function defaultPartitionNote(db: DatabaseOrTransaction): Promise<string> {
  const [row] = await db.execute<{ n: number }>(sql`select count(*)::int as n from (select from runs_default limit 1000) d`);
  if (!row || row.n === 0) return '';
  return `; ${row.n >= 1000 ? 'over 1000' : row.n} runs outside the weekly partitions (runs_default): the worker creates the weeks ahead hourly, npm run db:migrate does too`;
}

/** Unfinished for longer than this, a run is named on the health check: every run's turn reads back to its week. */
const FLOOR_BEHIND_DAYS = 14;

function ago(seconds: number): string {
  if (seconds < 7_200) return `${Math.round(seconds / 60)} minutes ago`;
  if (seconds < 172_800) return `${Math.round(seconds / 3_600)} hours ago`;
  return `${Math.round(seconds / 86_400)} days ago`;
}

/**
 * The bound below every unfinished run (migration 0032, raised by the worker every 5 minutes) lets
 * each run's turn skip the weeks before it. Said on the health check when it is held back, as
 * nothing else would show it (runs still take turns, only each turn reads more weeks): a worker
 * running for a quarter of an hour that has not raised it within the hour (a prepared
 * transaction, or a role that cannot see other sessions' transactions), or a run left unfinished
 * for weeks (an integration no worker has registered, say).
 */
async function runFloorNote(db: DatabaseOrTransaction): Promise<string> {
  const [floor] = await db.execute<{ raised_s: number | null; behind_s: number | null; settled_worker: boolean }>(sql`
    select extract(epoch from now() - f.raised_at)::float8 as raised_s,
           case when f.since > '-infinity' then extract(epoch from now() - f.since)::float8 end as behind_s,
           exists (select from worker_heartbeats h
                    where h.stopped_at is null and h.beat_at > now() - interval '1 minute'
                      and h.started_at < now() - interval '15 minutes') as settled_worker
      from run_active_floor f where f.id = 1`);
  if (!floor) return '';
  if (floor.settled_worker && (floor.raised_s === null || floor.raised_s > 3_600)) {
    return `; the bound below unfinished runs was ${floor.raised_s === null ? 'never raised' : `last raised ${ago(floor.raised_s)}`}: a prepared transaction, or a session whose transaction the worker's role cannot see (grant it pg_read_all_stats, as npm run db:roles does), keeps the worker from raising it, and each run's turn reads every week of runs`;
  }
  if (floor.behind_s === null || floor.behind_s < FLOOR_BEHIND_DAYS * 86_400) return '';
  // Anyone may read the health check: the run is told by its age and status, not its id or integration.
  const [oldest] = await db
    .select({ status: runs.status, ageS: sql<number>`extract(epoch from now() - ${runs.createdAt})::float8` })
    .from(runs)
    .where(inArray(runs.status, [...ACTIVE_RUN_STATUSES]))
    .orderBy(asc(runs.createdAt))
    .limit(1);
  if (!oldest || oldest.ageS < FLOOR_BEHIND_DAYS * 86_400) return '';
  return `; a run requested ${ago(oldest.ageS)} is still ${oldest.status} (the oldest in Runs, status active): each run's turn reads back to its week; cancel it, or start a worker that has its integration registered`;
}

/** How long the notes about runs may take: load balancers and monitors give the check a few seconds. */
const NOTE_TIMEOUT_MS = 3_000;

/**
 * The notes read runs, which a session can hold locked for as long as it likes (a manual
 * `lock table`, a long migration): each note runs with a statement timeout, so the check answers
 * within seconds, naming the wait, instead of hanging with every probe until the lock goes. Any
 * other failure leaves the note out (not migrated yet: the migrations check says so).
 */
async function boundedNote(db: Database, note: (tx: DatabaseOrTransaction) => Promise<string>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new NoteTimeout()), NOTE_TIMEOUT_MS + 1_000);
    });
    const read = db.transaction(async (tx) => {
      await tx.execute(sql`select set_config('statement_timeout', ${`${NOTE_TIMEOUT_MS}ms`}, true)`);
      return note(tx);
    });
    read.catch(() => {});
    return await Promise.race([read, deadline]);
  } catch (error) {
    if (error instanceof NoteTimeout || sqlState(error) === '57014') {
      return `; the runs table did not answer within ${NOTE_TIMEOUT_MS / 1000} s: a session may hold a lock on it (see pg_locks)`;
    }
    return '';
  } finally {
    clearTimeout(timer);
  }
}

class NoteTimeout extends Error {}

function sqlState(error: unknown): string | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

/** Database reachable, migrations current, a worker heartbeat younger than a minute. */
export async function checkHealth(db: Database, now = new Date()): Promise<Health> {
  try {
    await timeout(db.execute(sql`select 1`), 3_000, 'the database');
  } catch (error) {
    // Said to anyone who asks (the health check needs no session): the reason, not where the database is.
    const reason = databaseReason(error, { address: false });
    const down = { ok: false, detail: 'not checked: the database is unreachable' };
    return { ok: false, database: { ok: false, detail: `unreachable: ${reason}` }, migrations: down, worker: down };
  }
  const status = await migrationStatus(db);
  const migrations = status.current
    ? { ok: true, detail: `${status.applied} applied, current` }
    : { ok: false, detail: `${status.applied} of ${status.shipped} applied: run npm run db:migrate` };
  const beat = await latestHeartbeat(db);
  const age = beat ? now.getTime() - beat.beatAt.getTime() : Number.POSITIVE_INFINITY;
  const worker =
    age <= WORKER_STALE_MS
      ? { ok: true, detail: `heartbeat ${Math.max(0, Math.round(age / 1000))}s ago (${beat!.workerId})` }
      : beat
        ? { ok: false, detail: `last heartbeat ${Math.round(age / 1000)}s ago: is a worker running? (npm run start:worker)` }
        : { ok: false, detail: 'no worker has ever reported: start one with npm run start:worker' };
  const partitions = await boundedNote(db, defaultPartitionNote);
  // One wait is enough to say so: the floor's note reads runs too.
  const floor = partitions.includes('did not answer') ? '' : await boundedNote(db, runFloorNote);
  const database = { ok: true, detail: `reachable${partitions}${floor}` };
  return { ok: migrations.ok && worker.ok, database, migrations, worker };
}
