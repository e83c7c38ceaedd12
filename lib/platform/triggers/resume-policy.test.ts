import { eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { auditLog, integrations, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startTestBoss } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { buildRegistry, syncRegistry } from '../registry';
import { countScheduledRuns, MISSED_COUNT_CAP, missedWhilePaused } from './resume-policy';
import { pauseIntegration, resumeIntegration } from './triggers';

const def = (name: string) =>
  defineIntegration({
    name,
    description: name,
    settings: z.object({}),
    defaults: { schedule: '* * * * *' },
    async execute() {
      return {};
    },
  }) as IntegrationDefinition;

let t: TestDatabase;
let boss: PgBoss;
beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  await syncRegistry(t.db, { registry: buildRegistry([def('skipper'), def('catcher'), def('unscheduled')]) });
});
afterAll(async () => {
  await boss.stop({ graceful: false });
  await t.drop();
});

/** Paused ten minutes (and a half) ago: ten every-minute ticks were missed. */
async function pausedTenMinutesAgo(name: string, resumePolicy: 'skip' | 'run_once') {
  await pauseIntegration(t.db, boss, { integration: name, by: 'op' });
  const floor = Math.floor(Date.now() / 60_000) * 60_000;
  await t.db
    .update(integrations)
    .set({ resumePolicy, pausedAt: new Date(floor - 10 * 60_000 + 30_000) })
    .where(eq(integrations.name, name));
  return new Date(floor + 1_000);
}
const runsOf = (name: string) => t.db.select().from(runs).where(eq(runs.integration, name));

describe('paused schedules say what resume will do', () => {
  it('counts the scheduled runs missed since the pause, in the schedule time zone, up to a cap', () => {
    const window = { from: new Date('2024-05-01T05:00:00Z'), to: new Date('2024-05-01T07:00:00Z') };
    expect(countScheduledRuns({ schedule: '0 2 * * *', timezone: 'America/New_York', ...window })).toEqual({ count: 1, capped: false });
    expect(countScheduledRuns({ schedule: '0 2 * * *', timezone: 'UTC', ...window })).toEqual({ count: 0, capped: false });
    const days = { from: new Date('2024-05-01T12:00:00Z'), to: new Date('2024-05-04T12:00:00Z') };
    expect(countScheduledRuns({ schedule: '0 2 * * *', timezone: 'UTC', ...days })).toEqual({ count: 3, capped: false });
    const long = { from: new Date('2024-01-01T00:00:00Z'), to: new Date('2024-02-01T00:00:00Z') };
    expect(countScheduledRuns({ schedule: '* * * * *', timezone: 'UTC', ...long })).toEqual({ count: MISSED_COUNT_CAP, capped: true });
    expect(countScheduledRuns({ schedule: 'not a cron', timezone: 'UTC', ...days })).toEqual({ count: 0, capped: false });
  });

  it('resume with skip starts nothing; the console sees the missed count and the policy beforehand', async () => {
    const now = await pausedTenMinutesAgo('skipper', 'skip');
    expect(await missedWhilePaused(t.db, { integration: 'skipper', now })).toMatchObject({
      paused: true,
      resumePolicy: 'skip',
      missed: 10,
      capped: false,
      resumeWillStartRun: false,
    });
    expect(await resumeIntegration(t.db, boss, { integration: 'skipper', by: 'op@example.com' })).toMatchObject({
      resumed: true,
      runId: null,
    });
    expect(await runsOf('skipper')).toEqual([]);
    expect(await missedWhilePaused(t.db, { integration: 'skipper' })).toMatchObject({
      paused: false,
      missed: 0,
      resumeWillStartRun: false,
    });
  });

  it('resume with run_once starts exactly one run for all missed ticks, and a second resume none', async () => {
    const now = await pausedTenMinutesAgo('catcher', 'run_once');
    expect(await missedWhilePaused(t.db, { integration: 'catcher', now })).toMatchObject({
      resumePolicy: 'run_once',
      missed: 10,
      resumeWillStartRun: true,
    });
    const [first, second] = await Promise.all([
      resumeIntegration(t.db, boss, { integration: 'catcher', by: 'op@example.com' }),
      resumeIntegration(t.db, boss, { integration: 'catcher', by: 'other@example.com' }),
    ]);
    const started = await runsOf('catcher');
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ trigger: 'schedule', triggeredBy: expect.stringMatching(/example\.com$/), status: 'queued' });
    expect(started[0].reason).toMatch(/missed while paused \(1\d scheduled runs\): run once on resume/);
    expect([first.runId, second.runId].filter(Boolean)).toEqual([started[0].id]);
    const [audit] = await t.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.fieldName, 'resume'))
      .orderBy(auditLog.id)
      .then((rows) => rows.filter((r) => r.integration === 'catcher'));
    expect(audit.newValue).toMatchObject({ resumePolicy: 'run_once', runId: started[0].id });
  });

  it('run_once with nothing missed (no schedule) starts nothing', async () => {
    await t.db.update(integrations).set({ schedule: null }).where(eq(integrations.name, 'unscheduled'));
    await pausedTenMinutesAgo('unscheduled', 'run_once');
    expect(await missedWhilePaused(t.db, { integration: 'unscheduled' })).toMatchObject({ missed: 0, resumeWillStartRun: false });
    await resumeIntegration(t.db, boss, { integration: 'unscheduled', by: 'op' });
    expect(await runsOf('unscheduled')).toEqual([]);
  });
});
