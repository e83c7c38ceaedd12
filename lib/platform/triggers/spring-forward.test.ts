import { eq, sql } from 'drizzle-orm';
import { TestClock, type PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { integrations, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { createBoss } from '../execution/boss';
import { SCHEDULE_QUEUE, type ScheduleJobData } from '../execution/queue';
import { buildRegistry, syncRegistry } from '../registry';
import { syncSchedules } from './schedules';
import { startScheduledRun } from './triggers';

/**
 * The real (patched) pg-boss cron pass on a clock the test drives, across Europe/Berlin's
 * spring-forward change (2026-03-29: 02:00 CET, 01:00Z, becomes 03:00 CEST), with two instances
 * running the pass, and every schedule job it sends handed to startScheduledRun in the order sent,
 * as the worker does (sentAt = the job's createdOn).
 */

const def = (name: string, schedule: string) =>
  defineIntegration({
    name,
    description: name,
    settings: z.object({}),
    defaults: { schedule, timezone: 'Europe/Berlin' },
    async execute() {
      return {};
    },
  }) as IntegrationDefinition;

const schedules: Record<string, string> = {
  nightly: '30 2 * * *', // skipped: runs at 03:00
  'at-two': '0 2 * * *', // skipped: runs at 03:00
  'at-three': '0 3 * * *', // not skipped: 03:00 as always
  'half-past': '30 2,3 * * *', // 02:30 skipped (03:00) and 03:30: two runs
  'on-the-hour': '0 2,3 * * *', // 02:00 skipped and 03:00 itself: one run at 03:00
  hourly: '0 * * * *', // every real hour: 01:00 CET (00:00Z), 03:00 CEST (01:00Z)
  'at-four': '0 4 * * *', // not skipped, 04:00 CEST (02:00Z) is after the window below
};
const registry = buildRegistry(Object.entries(schedules).map(([name, cron]) => def(name, cron)));

let t: TestDatabase;
let clock: TestClock;
let bosses: PgBoss[];
beforeAll(async () => {
  t = await freshDatabase();
  await syncRegistry(t.db, { registry });
  // The schedules took effect well before the change.
  await t.db.update(integrations).set({ scheduleSince: new Date('2026-03-01T00:00:00Z') });
  clock = new TestClock('2026-03-28T23:58:00Z');
  bosses = [];
  for (let i = 0; i < 2; i++) {
    const boss = createBoss(t.url, { max: 3, clock, registerInstance: false, useListenNotify: false, cronWorkerIntervalSeconds: 5 });
    boss.removeAllListeners('error');
    boss.on('error', () => {});
    await boss.start();
    bosses.push(boss);
  }
  await syncSchedules(t.db, bosses[0], { registry });
}, 60_000);
afterAll(async () => {
  for (const boss of bosses ?? []) await boss.stop({ graceful: false });
  await t.drop();
});

describe('a schedule whose time the clocks skip (spring forward)', () => {
  it('runs once at 03:00, beside the schedules at 03:00 and the hourly one, with two instances running the pass', async () => {
    // 23:58Z to 01:40Z in 10-second steps: every pass of both instances runs.
    while (clock.now() < Date.parse('2026-03-29T01:40:00Z')) await clock.tick(10_000);

    const jobs = await t.db.execute<{ data: ScheduleJobData; created_on: Date }>(
      sql`select data, created_on from pgboss.job where name = ${SCHEDULE_QUEUE} order by created_on, id`,
    );
    // pg-boss sent one job a slot, whichever instance's pass found it.
    const sent: Record<string, string[]> = {};
    for (const job of jobs) (sent[job.data.integration] ??= []).push(new Date(job.created_on).toISOString().slice(11, 16));
    expect(sent).toEqual({
      nightly: ['01:00'],
      'at-two': ['01:00'],
      'at-three': ['01:00'],
      'half-past': ['01:00', '01:30'],
      'on-the-hour': ['01:00'],
      hourly: ['00:00', '01:00'],
    });
    for (const job of jobs)
      await startScheduledRun(t.db, bosses[0], { integration: job.data.integration, sentAt: new Date(job.created_on) });

    const started: Record<string, { runs: number; lastTick: string | null }> = {};
    for (const name of Object.keys(schedules)) {
      const [row] = await t.db.select().from(integrations).where(eq(integrations.name, name));
      const ran = await t.db.select().from(runs).where(eq(runs.integration, name));
      started[name] = { runs: ran.length, lastTick: row.lastScheduleTick?.toISOString() ?? null };
    }
    expect(started).toEqual({
      nightly: { runs: 1, lastTick: '2026-03-29T01:00:00.000Z' },
      'at-two': { runs: 1, lastTick: '2026-03-29T01:00:00.000Z' },
      'at-three': { runs: 1, lastTick: '2026-03-29T01:00:00.000Z' },
      'half-past': { runs: 2, lastTick: '2026-03-29T01:30:00.000Z' },
      'on-the-hour': { runs: 1, lastTick: '2026-03-29T01:00:00.000Z' },
      hourly: { runs: 2, lastTick: '2026-03-29T01:00:00.000Z' },
      'at-four': { runs: 0, lastTick: null },
    });
  }, 120_000);
});
