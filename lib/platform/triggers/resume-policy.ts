import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { DatabaseOrTransaction } from '../../../db/client';
import { integrations } from '../../../db/schema';
import { AppError } from '../errors';
import { nextRuns } from './cron';

/**
 * What resuming a paused integration will do: how many scheduled runs its cron (in its time zone)
 * would have started between `paused_at` and now, and its resume policy — 'skip' (default: missed
 * runs are skipped) or 'run_once' (one run on resume when at least one was missed).
 */

export const ZResumePolicy = z.enum(['skip', 'run_once']);
export type ResumePolicy = z.infer<typeof ZResumePolicy>;

/** Counting stops here (an every-minute schedule paused for a month): the console shows "1000+". */
export const MISSED_COUNT_CAP = 1000;

export interface MissedWhilePaused {
  integration: string;
  paused: boolean;
  pausedAt: Date | null;
  schedule: string | null;
  timezone: string;
  resumePolicy: ResumePolicy;
  /** Scheduled runs missed since paused_at (0 when not paused or unscheduled), at most MISSED_COUNT_CAP. */
  missed: number;
  /** True when the count stopped at MISSED_COUNT_CAP. */
  capped: boolean;
  /** Resume starts exactly one run ('run_once' and missed ≥ 1); otherwise none. */
  resumeWillStartRun: boolean;
}

/** Scheduled ticks of `schedule` in (from, to]; an invalid stored cron counts none. */
export function countScheduledRuns(params: { schedule: string; timezone: string; from: Date; to: Date; cap?: number }): {
  count: number;
  capped: boolean;
} {
  const cap = params.cap ?? MISSED_COUNT_CAP;
  let times: Date[];
  try {
    times = nextRuns(params.schedule, params.timezone, cap + 1, params.from);
  } catch {
    return { count: 0, capped: false };
  }
  const count = times.filter((at) => at.getTime() > params.from.getTime() && at.getTime() <= params.to.getTime()).length;
  return count > cap ? { count: cap, capped: true } : { count, capped: false };
}

export async function missedWhilePaused(
  db: DatabaseOrTransaction,
  params: { integration: string; now?: Date },
): Promise<MissedWhilePaused> {
  const [row] = await db
    .select({
      name: integrations.name,
      paused: integrations.paused,
      pausedAt: integrations.pausedAt,
      schedule: integrations.schedule,
      timezone: integrations.timezone,
      resumePolicy: integrations.resumePolicy,
    })
    .from(integrations)
    .where(eq(integrations.name, params.integration));
  if (!row) throw new AppError('not_found', `Integration '${params.integration}' does not exist: check the name in the integrations list`);
  const resumePolicy: ResumePolicy = row.resumePolicy === 'run_once' ? 'run_once' : 'skip';
  const counted =
    row.paused && row.pausedAt && row.schedule
      ? countScheduledRuns({ schedule: row.schedule, timezone: row.timezone, from: row.pausedAt, to: params.now ?? new Date() })
      : { count: 0, capped: false };
  return {
    integration: row.name,
    paused: row.paused,
    pausedAt: row.pausedAt,
    schedule: row.schedule,
    timezone: row.timezone,
    resumePolicy,
    missed: counted.count,
    capped: counted.capped,
    resumeWillStartRun: resumePolicy === 'run_once' && counted.count > 0,
  };
}
