import { sql } from 'drizzle-orm';
import type { Database } from '../../../db/client';
import { migrationStatus } from '../../../db/migrate';
import { databaseReason } from '../errors';
import { latestHeartbeat } from '../execution/heartbeat';

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
async function defaultPartitionNote(db: Database): Promise<string> {
  try {
    const [row] = await db.execute<{ n: number }>(sql`select count(*)::int as n from (select from runs_default limit 1000) d`);
    if (!row || row.n === 0) return '';
    return `; ${row.n >= 1000 ? 'over 1000' : row.n} runs outside the weekly partitions (runs_default): the worker creates the weeks ahead hourly, npm run db:migrate does too`;
  } catch {
    return ''; // not migrated yet: the migrations check says so
  }
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
  const database = { ok: true, detail: `reachable${await defaultPartitionNote(db)}` };
  return { ok: migrations.ok && worker.ok, database, migrations, worker };
}
