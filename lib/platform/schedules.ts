import { CronExpressionParser } from 'cron-parser';
import { eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { DatabaseOrTransaction } from '../../db/client';
import { integrations, type Integration } from '../../db/schema';
import type { Registry } from './contract';
import { ensurePlatformQueues, SCHEDULE_QUEUE, type ScheduleJobData } from './queue';

/**
 * Schedules: a cron expression and an IANA time zone per integration, applied as pg-boss schedules
 * on the schedule queue (key = integration name). A tick becomes a run (trigger 'schedule') unless
 * the integration is paused; paused and orphaned integrations are also unscheduled.
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

const FIELDS_5 = ['minute', 'hour', 'day of month', 'month', 'day of week'];
const FIELDS_6 = ['second', ...FIELDS_5];

/**
 * Validates a 5-field (or 6-field, seconds first) cron expression; the message names the bad field:
 * "Cron '0 25 * * *' is invalid: hour must be 0-23 (got 25)".
 */
export function validateCron(expression: string): string {
  const trimmed = expression.trim().replace(/\s+/g, ' ');
  const parts = trimmed.split(' ');
  if (trimmed === '' || (parts.length !== 5 && parts.length !== 6)) {
    throw new InvalidScheduleError(
      'schedule',
      `Cron '${expression}' is invalid: use 5 fields (minute hour day-of-month month day-of-week), e.g. '0 2 * * *'`,
    );
  }
  const names = parts.length === 6 ? FIELDS_6 : FIELDS_5;
  for (let i = 0; i < parts.length; i++) {
    const probe = parts.map((_, j) => (j === i ? parts[i] : '*')).join(' ');
    try {
      CronExpressionParser.parse(probe);
    } catch (error) {
      const message = (error as Error).message;
      const range = /got value (\S+) expected range (\S+)/.exec(message);
      const detail = range ? `must be ${range[2]} (got ${range[1]})` : `'${parts[i]}' is not valid (${message.replace(/^.*?:\s*/, '')})`;
      throw new InvalidScheduleError('schedule', `Cron '${expression}' is invalid: ${names[i]} ${detail}`);
    }
  }
  try {
    CronExpressionParser.parse(trimmed);
  } catch (error) {
    throw new InvalidScheduleError('schedule', `Cron '${expression}' is invalid: ${(error as Error).message}`);
  }
  return trimmed;
}

/** Validates an IANA time zone name ('Europe/Paris'). */
export function validateTimezone(timezone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new InvalidScheduleError('timezone', `Time zone '${timezone.length > 60 ? `${timezone.slice(0, 57)}…` : timezone}' is unknown: use an IANA name such as 'UTC' or 'Europe/Paris'`);
  }
  return timezone;
}

type ScheduleRow = Pick<Integration, 'name' | 'schedule' | 'timezone' | 'paused' | 'registered'>;

function wanted(row: ScheduleRow, registry?: Registry): { cron: string; tz: string } | null {
  if (!row.schedule || row.paused || !row.registered) return null;
  if (registry && !registry.has(row.name)) return null;
  return { cron: validateCron(row.schedule), tz: validateTimezone(row.timezone) };
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
