import os from 'node:os';
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { workerHeartbeats } from '../../../db/schema';

export const HEARTBEAT_INTERVAL_MS = 10_000;

export interface Heartbeat {
  stop(): Promise<void>;
}

/**
 * Each worker process writes a heartbeat row every few seconds; the health check and the console
 * read the freshest one. A database outage only skips beats: the loop keeps going and recovers.
 */
export async function startHeartbeat(db: Database, params: { workerId: string; intervalMs?: number }): Promise<Heartbeat> {
  const beat = () =>
    db
      .insert(workerHeartbeats)
      .values({ workerId: params.workerId, hostname: os.hostname(), pid: process.pid })
      .onConflictDoUpdate({ target: workerHeartbeats.workerId, set: { beatAt: sql`now()`, stoppedAt: null } });
  await beat();
  const timer = setInterval(() => {
    beat().catch(() => {});
  }, params.intervalMs ?? HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await db
        .update(workerHeartbeats)
        .set({ stoppedAt: sql`now()` })
        .where(eq(workerHeartbeats.workerId, params.workerId))
        .catch(() => {});
    },
  };
}

/** The newest heartbeat of a running worker, or null when none has beaten. */
export async function latestHeartbeat(db: DatabaseOrTransaction): Promise<{ workerId: string; beatAt: Date } | null> {
  const [row] = await db
    .select({ workerId: workerHeartbeats.workerId, beatAt: workerHeartbeats.beatAt })
    .from(workerHeartbeats)
    .where(and(isNull(workerHeartbeats.stoppedAt)))
    .orderBy(desc(workerHeartbeats.beatAt))
    .limit(1);
  return row ?? null;
}
