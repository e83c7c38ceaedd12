import { lt, sql } from 'drizzle-orm';
import type { Database } from '../../../db/client';
import { endedSessions } from '../../../db/schema';
import { databaseReason } from '../errors';
import { forgetRunHoursBefore, sealRunHours } from '../read-models/run-rollup';
import { TERMINAL_RUN_STATUSES } from '../run-status';
import { pruneIdempotencyKeys } from '../triggers/idempotency';
import { raiseRunFloor } from './run-floor';

/** Weeks of run partitions the worker keeps created ahead of now (the current week included). */
export const PARTITION_WEEKS_AHEAD = 5;

/**
 * Creates the weekly partitions of runs, attempts and attempt_logs from the week of `from` for
 * `weeks` weeks, where missing; returns how many weeks it created. The SQL function runs as the
 * tables' owner (SECURITY DEFINER, migration 0016), so the worker can call it as the runtime role.
 */
export async function ensureRunPartitions(db: Database, params: { from?: Date; weeks?: number } = {}): Promise<number> {
  const from = (params.from ?? new Date()).toISOString();
  const [row] = await db.execute<{ created: number }>(
    sql`select ensure_run_partitions(${from}::timestamptz, ${params.weeks ?? PARTITION_WEEKS_AHEAD}::int) as created`,
  );
  return Number(row.created);
}

/**
 * Runs, their attempts and logs are kept for the retention period (RUN_RETENTION_DAYS). A whole
 * week that ended before the cutoff is dropped at once (its three aligned partitions, detached
 * and dropped by drop_run_partitions) unless it still holds an unfinished run; what is left (the
 * finished runs of such a week, rows in the DEFAULT partition) is deleted in small batches, so a
 * large backlog never holds long locks. Only finished runs go; the audit trail is never pruned.
 * Refused webhook deliveries follow the same period (pruneWebhookRejections).
 */
export async function pruneRuns(
  db: Database,
  params: { olderThan: Date; batchSize?: number; maxBatches?: number },
): Promise<{ deleted: number; droppedWeeks: string[] }> {
  const [dropped] = await db.execute<{ weeks: string[] }>(
    sql`select drop_run_partitions(${params.olderThan.toISOString()}::timestamptz) as weeks`,
  );
  const droppedWeeks = dropped.weeks ?? [];
  const batchSize = params.batchSize ?? 1000;
  let deleted = 0;
  for (let batch = 0; batch < (params.maxBatches ?? 100); batch++) {
    // (id, created_at): the key of the partitioned table, so each row is found in its own week.
    const rows = await db.execute<{ id: string }>(sql`
      delete from runs where (id, created_at) in (
        select id, created_at from runs
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
  // The rollup must not count runs that are gone: the inventory reads the last 24 hours (younger
  // than any retention period), the Overview the last 7 days, which a retention of a few days cuts.
  await forgetRunHoursBefore(db, params.olderThan);
  return { deleted, droppedWeeks };
}

/**
 * Refused webhook deliveries (metadata only) are kept for the retention period too: the Events tab
 * counts them all, and without pruning a sender that keeps failing would grow the table forever.
 * Deleted in small batches like runs.
 */
export async function pruneWebhookRejections(
  db: Database,
  params: { olderThan: Date; batchSize?: number; maxBatches?: number },
): Promise<number> {
  const batchSize = params.batchSize ?? 1000;
  let deleted = 0;
  for (let batch = 0; batch < (params.maxBatches ?? 100); batch++) {
    const rows = await db.execute<{ id: number }>(sql`
      delete from webhook_rejections where id in (
        select id from webhook_rejections where received_at < ${params.olderThan.toISOString()}::timestamptz limit ${batchSize})
      returning id`);
    deleted += rows.length;
    if (rows.length < batchSize) break;
  }
  return deleted;
}

export interface Pruner {
  stop(): void;
}

/**
 * Prunes now and then every `intervalMs`; seals the inventory's closed hours (sealRunHours) and
 * raises the bound below unfinished runs (raiseRunFloor) now and then every `rollupIntervalMs`
 * (default 5 minutes). Errors (a database restart) only skip a round, and a skipped pruning round
 * is tried again after `retryMs` (a minute) rather than an hour.
 */
export function startPruner(
  db: Database,
  params: {
    retentionDays: number;
    intervalMs?: number;
    rollupIntervalMs?: number;
    retryMs?: number;
    log?: (message: string) => void;
  },
): Pruner {
  /** One pruning round; false when it was skipped. */
  const round = async (): Promise<boolean> => {
    try {
      // The weeks ahead first: an insert into a missing week lands in the DEFAULT partition.
      const created = await ensureRunPartitions(db);
      if (created > 0) params.log?.(`created the run partitions of ${created} weeks ahead`);
      const [outside] = await db.execute<{ n: number }>(sql`select count(*)::int as n from (select from runs_default limit 1000) d`);
      if (outside.n > 0)
        params.log?.(
          `warning: ${outside.n >= 1000 ? 'over 1000' : outside.n} runs sit in runs_default (no weekly partition for their week)`,
        );
      const olderThan = new Date(Date.now() - params.retentionDays * 86_400_000);
      const { deleted, droppedWeeks } = await pruneRuns(db, { olderThan });
      if (droppedWeeks.length > 0)
        params.log?.(`dropped ${droppedWeeks.length} weeks of runs older than ${params.retentionDays} days (${droppedWeeks.join(', ')})`);
      if (deleted > 0) params.log?.(`pruned ${deleted} runs older than ${params.retentionDays} days`);
      const rejections = await pruneWebhookRejections(db, { olderThan });
      if (rejections > 0) params.log?.(`pruned ${rejections} refused webhook deliveries older than ${params.retentionDays} days`);
      const keys = await pruneIdempotencyKeys(db);
      if (keys > 0) params.log?.(`pruned ${keys} idempotency keys older than 24 hours`);
      // A session ended by sign-out is listed while its token could still be used: sessions last
      // at most 8 hours (lib/auth/auth.config.ts), a day is ample.
      await db.delete(endedSessions).where(lt(endedSessions.endedAt, new Date(Date.now() - 86_400_000)));
      return true;
    } catch (error) {
      params.log?.(`pruning skipped: ${databaseReason(error)}`);
      return false;
    }
  };
  const seal = async () => {
    try {
      await sealRunHours(db);
    } catch (error) {
      params.log?.(`run rollup skipped: ${databaseReason(error)}`);
    }
    try {
      await raiseRunFloor(db);
    } catch (error) {
      params.log?.(`bound of unfinished runs not raised: ${databaseReason(error)}`);
    }
  };
  const intervalMs = params.intervalMs ?? 3_600_000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const next = async () => {
    const done = await round();
    if (stopped) return;
    timer = setTimeout(() => void next(), done ? intervalMs : Math.min(intervalMs, params.retryMs ?? 60_000));
    timer.unref();
  };
  void next();
  void seal();
  const rollupTimer = setInterval(() => void seal(), params.rollupIntervalMs ?? 300_000);
  rollupTimer.unref();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      clearInterval(rollupTimer);
    },
  };
}
