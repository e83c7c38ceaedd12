import { eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { DatabaseOrTransaction } from '../../../db/client';
import { integrations, type Integration } from '../../../db/schema';
import type { Registry } from '../contract';
import { ensurePlatformQueues, SCHEDULE_QUEUE, type ScheduleJobData } from '../execution/queue';
import { canonicalTimezone, validateCron as checkCron, validateTimezone as checkTimezone, storedSchedule } from './cron';

/**
 * Schedules: a cron expression and an IANA time zone per integration, applied as pg-boss schedules
 * on the schedule queue (key = integration name). A tick becomes a run (trigger 'schedule') unless
 * the integration is paused or the tick fell before its last schedule change or resume (see
 * startScheduledRun); paused and orphaned integrations are also unscheduled.
 */

export class InvalidScheduleError extends Error {
  override name = 'InvalidScheduleError';
  constructor(
    /** 'schedule' or 'timezone': the configuration field at fault. */
    readonly field: 'schedule' | 'timezone',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Validates a 5- or 6-field cron expression with the messages of ./cron (which the config editor
 * uses too) and returns it normalised; a bad one throws naming the field.
 */
export function validateCron(expression: string): string {
  const check = checkCron(expression);
  if (!check.ok) throw new InvalidScheduleError('schedule', check.message);
  return expression.trim().replace(/\s+/g, ' ');
}

/** Validates an IANA time zone name ('Europe/Paris') and returns its canonical name. */
export function validateTimezone(timezone: string): string {
  const check = checkTimezone(timezone);
  if (!check.ok) throw new InvalidScheduleError('timezone', check.message);
  return canonicalTimezone(timezone);
}

type ScheduleRow = Pick<Integration, 'name' | 'schedule' | 'timezone' | 'paused' | 'registered'>;

function wanted(row: ScheduleRow, registry?: Registry): { cron: string; tz: string } | null {
  if (!row.schedule || row.paused || !row.registered) return null;
  if (registry && !registry.has(row.name)) return null;
  const stored = storedSchedule(row.schedule, row.timezone);
  if (!stored.ok) throw new InvalidScheduleError('schedule', stored.message);
  if (stored.legacy) {
    console.warn(
      `[schedules] ${row.name}: scheduled as '${stored.cron}' (${stored.tz}); its stored schedule uses ${stored.legacy}, which the console no longer accepts: the next edit of its schedule must replace it`,
    );
  }
  return { cron: stored.cron, tz: stored.tz };
}

async function apply(boss: PgBoss, row: ScheduleRow, existing: { cron: string; timezone: string } | undefined, registry?: Registry) {
  let target: { cron: string; tz: string } | null;
  try {
    target = wanted(row, registry);
  } catch (error) {
    // A bad stored value must not stop every other schedule; the config service refuses new ones.
    console.error(`[schedules] ${row.name}: ${(error as Error).message}; the integration is not scheduled`);
    target = null;
  }
  if (!target) {
    if (existing) await boss.unschedule(SCHEDULE_QUEUE, row.name);
    return;
  }
  if (existing && existing.cron === target.cron && existing.timezone === target.tz) return;
  await boss.schedule(SCHEDULE_QUEUE, target.cron, { integration: row.name } satisfies ScheduleJobData, {
    tz: target.tz,
    key: row.name,
    singletonKey: row.name,
    missed: 'skip',
  });
}

const columns = {
  name: integrations.name,
  schedule: integrations.schedule,
  timezone: integrations.timezone,
  paused: integrations.paused,
  registered: integrations.registered,
};

/** Brings pg-boss schedules in line with the integrations table (schedule, timezone, paused, orphaned). */
export async function syncSchedules(db: DatabaseOrTransaction, boss: PgBoss, params: { registry: Registry }): Promise<void> {
  await ensurePlatformQueues(boss);
  const rows = await db.select(columns).from(integrations);
  const existing = new Map((await boss.getSchedules(SCHEDULE_QUEUE)).map((s) => [s.key, s]));
  for (const row of rows) await apply(boss, row, existing.get(row.name), params.registry);
  const names = new Set(rows.map((r) => r.name));
  for (const key of existing.keys()) if (!names.has(key)) await boss.unschedule(SCHEDULE_QUEUE, key);
}

/** Applies one integration's schedule now (after a pause, resume or a schedule edit). */
export async function applySchedule(db: DatabaseOrTransaction, boss: PgBoss, params: { integration: string }): Promise<void> {
  await ensurePlatformQueues(boss);
  const [row] = await db.select(columns).from(integrations).where(eq(integrations.name, params.integration));
  const existing = (await boss.getSchedules(SCHEDULE_QUEUE, params.integration))[0];
  if (!row) {
    if (existing) await boss.unschedule(SCHEDULE_QUEUE, params.integration);
    return;
  }
  await apply(boss, row, existing);
}
