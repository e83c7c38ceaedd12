import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { DatabaseOrTransaction } from '../../../db/client';
import { runs, type RunStatus } from '../../../db/schema';
import { parseDuration } from '../duration';
import { parseTriggerInput, ZRunId } from '../execution/run-create';
import { ACTIVE_RUN_STATUSES } from '../run-status';
import { DEFAULT_BULK_PACE } from './bulk';

/**
 * Facts for "confirm what is costly": the console asks for confirmation stating the consequence
 * when Run now meets a run still active, a retry is of a run older than 7 days, or a bulk action
 * covers more than 20 runs. `messages` says each consequence in a sentence, ready to show.
 */

export const OLD_RUN_DAYS = 7;
export const BULK_CONFIRM_OVER = 20;

export interface CostlyActionWarnings {
  /** The integration has a run not finished yet (queued, running, retrying or deferred). */
  lastRunActive: boolean;
  activeRunId: string | null;
  activeRunStatus: RunStatus | null;
  /** Of the given runs, those created more than 7 days ago. */
  oldRuns: number;
  oldestRunAt: Date | null;
  /** More than 20 runs given. */
  bulkOver20: boolean;
  runCount: number;
  /** One sentence per warning; empty when nothing needs confirming. */
  messages: string[];
}

const ZParams = z.object({
  integration: z.string().trim().min(1).optional(),
  runIds: z.array(ZRunId).max(500).optional(),
});

export async function costlyActionWarnings(
  db: DatabaseOrTransaction,
  params: { integration?: string; runIds?: string[] },
): Promise<CostlyActionWarnings> {
  const p = parseTriggerInput(ZParams, params);
  const ids = [...new Set(p.runIds ?? [])];
  const messages: string[] = [];

  let active: { id: string; status: RunStatus } | undefined;
  if (p.integration) {
    [active] = await db
      .select({ id: runs.id, status: runs.status })
      .from(runs)
      .where(and(eq(runs.integration, p.integration), inArray(runs.status, ACTIVE_RUN_STATUSES)))
      .orderBy(desc(runs.createdAt))
      .limit(1);
    if (active) {
      messages.push(
        `The last run of ${p.integration} (${active.id}) is still ${active.status}: a new run waits until it ends, then processes the same data again.`,
      );
    }
  }

  let oldRuns = 0;
  let oldestRunAt: Date | null = null;
  if (ids.length) {
    const [row] = await db
      .select({
        old: sql<number>`count(*) filter (where ${runs.createdAt} < now() - make_interval(days => ${OLD_RUN_DAYS}))::int`,
        oldest: sql<
          string | null
        >`min(${runs.createdAt}) filter (where ${runs.createdAt} < now() - make_interval(days => ${OLD_RUN_DAYS}))`,
      })
      .from(runs)
      .where(inArray(runs.id, ids));
    oldRuns = row.old;
    oldestRunAt = row.oldest ? new Date(row.oldest) : null;
    if (oldRuns > 0) {
      messages.push(
        `${oldRuns === 1 && ids.length === 1 ? 'This run is' : `${oldRuns} of these runs are`} older than ${OLD_RUN_DAYS} days: retrying replays ${oldRuns === 1 ? 'it' : 'them'} against today's data in both systems, which may have changed since.`,
      );
    }
  }

  const bulkOver20 = ids.length > BULK_CONFIRM_OVER;
  if (bulkOver20) {
    const perMinute = (DEFAULT_BULK_PACE.runs * 60_000) / parseDuration(DEFAULT_BULK_PACE.per);
    messages.push(
      `This retries ${ids.length} runs: they start at most ${perMinute} per minute per integration (about ${Math.ceil(ids.length / perMinute)} minutes for one integration), and wait while a breaker is open.`,
    );
  }

  return {
    lastRunActive: Boolean(active),
    activeRunId: active?.id ?? null,
    activeRunStatus: active?.status ?? null,
    oldRuns,
    oldestRunAt,
    bulkOver20,
    runCount: ids.length,
    messages,
  };
}
