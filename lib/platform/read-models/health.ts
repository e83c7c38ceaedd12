import { sql } from 'drizzle-orm';
import type { Database } from '../../../db/client';
import { migrationStatus } from '../../../db/migrate';
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

/** Database reachable, migrations current, a worker heartbeat younger than a minute. */
export async function checkHealth(db: Database, now = new Date()): Promise<Health> {
  try {
    await timeout(db.execute(sql`select 1`), 3_000, 'the database');
  } catch (error) {
    const reason = (error as Error).message;
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
  const database = { ok: true, detail: 'reachable' };
  return { ok: migrations.ok && worker.ok, database, migrations, worker };
}
