import { lt, sql } from 'drizzle-orm';
import type { Database } from '../../../db/client';
import { endedSessions } from '../../../db/schema';
import { TERMINAL_RUN_STATUSES } from '../run-status';
import { pruneIdempotencyKeys } from '../triggers/idempotency';

/**
 * Runs, their attempts and logs are kept for the retention period (RUN_RETENTION_DAYS) and then
 * pruned in small batches, so a large backlog never holds long locks. Only finished runs go;
 * the audit trail is never pruned.
 */
export async function pruneRuns(
  db: Database,
  params: { olderThan: Date; batchSize?: number; maxBatches?: number },
): Promise<{ deleted: number }> {
  const batchSize = params.batchSize ?? 1000;
  let deleted = 0;
  for (let batch = 0; batch < (params.maxBatches ?? 100); batch++) {
    const rows = await db.execute<{ id: string }>(sql`
      delete from runs where id in (
        select id from runs
         where created_at < ${params.olderThan.toISOString()}::timestamptz
           and status in (${sql.join(
             TERMINAL_RUN_STATUSES.map((s) => sql`${s}`),
             sql`, `,
           )})
         order by created_at limit ${batchSize})
      returning id`);
    deleted += rows.length;
    if (rows.length < batchSize) break;
  }
  return { deleted };
}

export interface Pruner {
  stop(): void;
}

/** Prunes now and then every `intervalMs`; errors (a database restart) only skip a round. */
export function startPruner(db: Database, params: { retentionDays: number; intervalMs?: number; log?: (message: string) => void }): Pruner {
  const round = async () => {
    try {
      const { deleted } = await pruneRuns(db, { olderThan: new Date(Date.now() - params.retentionDays * 86_400_000) });
      if (deleted > 0) params.log?.(`pruned ${deleted} runs older than ${params.retentionDays} days`);
      const keys = await pruneIdempotencyKeys(db);
      if (keys > 0) params.log?.(`pruned ${keys} idempotency keys older than 24 hours`);
      // A session ended by sign-out is listed while its token could still be used: sessions last
      // at most 8 hours (lib/auth/auth.config.ts), a day is ample.
      await db.delete(endedSessions).where(lt(endedSessions.endedAt, new Date(Date.now() - 86_400_000)));
    } catch (error) {
      params.log?.(`pruning skipped: ${(error as Error).message}`);
    }
  };
  void round();
  const timer = setInterval(() => void round(), params.intervalMs ?? 3_600_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
