import { eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { integrations } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startTestBoss } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { SCHEDULE_QUEUE } from '../execution/queue';
import { buildRegistry, syncRegistry } from '../registry';
import { applySchedule, InvalidScheduleError, syncSchedules, validateCron, validateTimezone } from './schedules';

describe('validateCron', () => {
  it('accepts 5- and 6-field expressions with names and steps', () => {
    expect(validateCron('0 2 * * *')).toBe('0 2 * * *');
    expect(validateCron(' */5  *  * * MON-FRI ')).toBe('*/5 * * * MON-FRI');
    expect(validateCron(' 30  0 2 * * *')).toBe('30 0 2 * * *');
  });

  it('refuses an invalid expression with a message naming the bad field', () => {
    const cases: [string, string][] = [
      ['0 25 * * *', "Cron '0 25 * * *' is invalid: hour must be 0–23 (got 25)"],
      ['61 * * * *', "Cron '61 * * * *' is invalid: minute must be 0–59 (got 61)"],
      ['* * 32 * *', "Cron '* * 32 * *' is invalid: day of month must be 1–31 (got 32)"],
      ['* * * 13 *', "Cron '* * * 13 *' is invalid: month must be 1–12 (got 13)"],
      ['* * * * 9', "Cron '* * * * 9' is invalid: day of week must be 0–7 (got 9)"],
      ['70 * * * * *', "Cron '70 * * * * *' is invalid: second must be 0–59 (got 70)"],
    ];
    for (const [expression, message] of cases) {
      expect(() => validateCron(expression)).toThrow(message);
    }
    expect(() => validateCron('* * *')).toThrow(/use 5 fields \(minute hour day-of-month month day-of-week\)/);
    expect(() => validateCron('abc * * * *')).toThrow(/minute 'abc' is not valid/);
    try {
      validateCron('0 25 * * *');
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidScheduleError);
      expect((error as InvalidScheduleError).field).toBe('schedule');
    }
  });

  it('refuses an unknown time zone', () => {
    expect(validateTimezone('Europe/Paris')).toBe('Europe/Paris');
    expect(() => validateTimezone('Mars/Olympus')).toThrow(
      "Time zone 'Mars/Olympus' is unknown: use an IANA name such as 'UTC' or 'Europe/Paris'",
    );
  });
});

const def = (name: string, schedule: string | null, timezone = 'UTC') =>
  defineIntegration({
    name,
    description: name,
    settings: z.object({}),
    defaults: { schedule, timezone },
    async execute() {
      return {};
    },
  }) as IntegrationDefinition;

describe('syncSchedules', () => {
  let t: TestDatabase;
  let boss: PgBoss;
  beforeAll(async () => {
    t = await freshDatabase();
    boss = await startTestBoss(t.url);
  });
  afterAll(async () => {
    await boss.stop({ graceful: false });
    await t.drop();
  });

  const schedules = async () =>
    Object.fromEntries((await boss.getSchedules(SCHEDULE_QUEUE)).map((s) => [s.key, `${s.cron} ${s.timezone}`]));

  it('applies cron and time zone per integration, skips paused, unscheduled and orphaned ones', async () => {
    const registry = buildRegistry([
      def('nightly', '0 2 * * *', 'Europe/Paris'),
      def('hourly', '0 * * * *'),
      def('manual', null),
      def('paused', '*/5 * * * *'),
    ]);
    await syncRegistry(t.db, { registry });
    await t.db.update(integrations).set({ paused: true }).where(eq(integrations.name, 'paused'));
    await syncSchedules(t.db, boss, { registry });
    expect(await schedules()).toEqual({ nightly: '0 2 * * * Europe/Paris', hourly: '0 * * * * UTC' });

    // Runtime changes: a new cron, a resumed integration, a handler that went away.
    await t.db.update(integrations).set({ schedule: '30 3 * * *' }).where(eq(integrations.name, 'nightly'));
    await t.db.update(integrations).set({ paused: false }).where(eq(integrations.name, 'paused'));
    const smaller = buildRegistry([def('nightly', '0 2 * * *'), def('manual', null), def('paused', '*/5 * * * *')]);
    await syncRegistry(t.db, { registry: smaller });
    await syncSchedules(t.db, boss, { registry: smaller });
    expect(await schedules()).toEqual({ nightly: '30 3 * * * Europe/Paris', paused: '*/5 * * * * UTC' });
  });

  it('applySchedule updates one integration and drops a stored schedule that became invalid', async () => {
    await t.db.update(integrations).set({ schedule: '15 4 * * *', timezone: 'America/New_York' }).where(eq(integrations.name, 'manual'));
    await applySchedule(t.db, boss, { integration: 'manual' });
    expect((await schedules()).manual).toBe('15 4 * * * America/New_York');
    await t.db.update(integrations).set({ schedule: '0 99 * * *' }).where(eq(integrations.name, 'manual'));
    await applySchedule(t.db, boss, { integration: 'manual' });
    expect((await schedules()).manual).toBeUndefined();
  });

  it('hands pg-boss the canonical zone of a row saved before zones were normalised', async () => {
    await t.db.update(integrations).set({ schedule: '30 2 * * *', timezone: 'europe/berlin' }).where(eq(integrations.name, 'manual'));
    await applySchedule(t.db, boss, { integration: 'manual' });
    expect((await schedules()).manual).toBe('30 2 * * * Europe/Berlin');
    // Re-applying the same row changes nothing (the stored and scheduled zones are compared canonically).
    await applySchedule(t.db, boss, { integration: 'manual' });
    expect((await boss.getSchedules(SCHEDULE_QUEUE, 'manual'))[0]).toMatchObject({ timezone: 'Europe/Berlin' });
  });

  it('keeps scheduling a row saved under the older, looser rules (a macro, a UTC offset), as pg-boss read it then', async () => {
    // '@daily' and '+02:00' were accepted before macros were spelt out and offsets refused: an
    // upgrade must not stop that integration's schedule without a word.
    await t.db.update(integrations).set({ schedule: '@daily', timezone: '+02:00' }).where(eq(integrations.name, 'manual'));
    await applySchedule(t.db, boss, { integration: 'manual' });
    expect((await schedules()).manual).toBe('0 0 * * * +02:00');
    // A value pg-boss never took is still dropped.
    await t.db.update(integrations).set({ schedule: '0 2 * * *', timezone: 'Mars/Olympus' }).where(eq(integrations.name, 'manual'));
    await applySchedule(t.db, boss, { integration: 'manual' });
    expect((await schedules()).manual).toBeUndefined();
  });
});
