import { randomBytes } from 'node:crypto';
import { and, asc, eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { auditLog, breakers, integrations, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startTestBoss } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { AppError } from '../errors';
import { RUNS_QUEUE, SCHEDULE_QUEUE } from '../execution/queue';
import { updateIntegrationConfig } from '../governance/config';
import { keyringFrom } from '../governance/crypto';
import { buildRegistry, syncRegistry } from '../registry';
import { nextRuns } from './cron';
import {
  cancelRun,
  openBreaker,
  pauseIntegration,
  resetBreaker,
  resumeIntegration,
  retryRun,
  retryRuns,
  runNow,
  SCHEDULE_TICK_LATENESS_MS,
  startScheduledRun,
} from './triggers';

const def = (name: string, schedule: string | null = null) =>
  defineIntegration({
    name,
    description: name,
    settings: z.object({}),
    defaults: { schedule, retry: { delays: ['1s', '2s'] } },
    async execute() {
      return {};
    },
  }) as IntegrationDefinition;

/** Integrations whose scheduled ticks the tests below hand to startScheduledRun. */
const tickers = [
  def('exporter', '* * * * *'),
  def('pausable', '* * * * *'),
  def('catcher', '* * * * *'),
  def('steady', '* * * * *'),
  def('redelivered', '* * * * *'),
];

let t: TestDatabase;
let boss: PgBoss;
beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  await syncRegistry(t.db, {
    registry: buildRegistry([def('orders'), def('ledger', '0 2 * * *'), def('legacy'), def('quota'), ...tickers]),
  });
  await syncRegistry(t.db, { registry: buildRegistry([def('orders'), def('ledger', '0 2 * * *'), def('quota'), ...tickers]) }); // legacy → orphaned
});
afterAll(async () => {
  await boss.stop({ graceful: false });
  await t.drop();
});

async function actions(name: string) {
  return t.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.kind, 'action'), eq(auditLog.fieldName, name)))
    .orderBy(asc(auditLog.id));
}

async function job(id: string) {
  const [row] = await t.db.execute<{ state: string; singleton_key: string; data: { runId: string }; start_after: string }>(
    sql`select state, singleton_key, data, start_after from pgboss.job where id = ${id}`,
  );
  return row;
}

async function expectRefusal(promise: Promise<unknown>, code: string, message: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
  expect((error as AppError).message).toMatch(message);
}

describe('runNow', () => {
  it('writes the run, its job and the audit action together', async () => {
    const { runId } = await runNow(t.db, boss, { integration: 'orders', triggeredBy: 'ada@example.com', reason: 'month end' });
    const [run] = await t.db.select().from(runs).where(eq(runs.id, runId));
    expect(run).toMatchObject({
      integration: 'orders',
      trigger: 'manual',
      status: 'queued',
      dryRun: false,
      triggeredBy: 'ada@example.com',
      maxAttempts: 3,
      attemptCount: 0,
    });
    expect(run.correlationId).toMatch(/[0-9a-f-]{36}/);
    const queued = await job(run.jobId!);
    expect(queued).toMatchObject({ state: 'created', singleton_key: 'orders', data: { runId } });
    const [audit] = await actions('run_now');
    expect(audit).toMatchObject({
      changedBy: 'ada@example.com',
      integration: 'orders',
      newValue: { runId, trigger: 'manual', reason: 'month end' },
    });
  });

  it('records a dry-run as its own action', async () => {
    const { runId } = await runNow(t.db, boss, { integration: 'orders', triggeredBy: 'ada@example.com', dryRun: true, trigger: 'api' });
    const [run] = await t.db.select().from(runs).where(eq(runs.id, runId));
    expect(run).toMatchObject({ dryRun: true, trigger: 'api' });
    expect((await actions('dry_run')).map((a) => (a.newValue as { runId: string }).runId)).toEqual([runId]);
  });

  it('refuses an unknown or orphaned integration and an anonymous caller, leaving nothing behind', async () => {
    // Nothing of a refused call stays: no run, no job, no audit row. From the API (no duplicate
    // check), the run, its job and its audit row are written together with the integration's lookup
    // and rolled back when it fails, and the caller still learns what was wrong with the name.
    const counts = async () => {
      const [row] = await t.db.execute<{ runs: number; jobs: number; audit: number }>(sql`
        select (select count(*)::int from runs) as runs,
               (select count(*)::int from pgboss.job where name = ${RUNS_QUEUE}) as jobs,
               (select count(*)::int from audit_log) as audit`);
      return row;
    };
    const before = await counts();
    for (const trigger of ['manual', 'api'] as const) {
      for (const dryRun of [false, true]) {
        await expectRefusal(
          runNow(t.db, boss, { integration: 'nope', triggeredBy: 'ada', trigger, dryRun }),
          'not_found',
          /Integration 'nope' does not exist/,
        );
        await expectRefusal(
          runNow(t.db, boss, { integration: 'legacy', triggeredBy: 'ada', trigger, dryRun }),
          'orphaned',
          /'legacy' is orphaned: its handler is no longer registered/,
        );
      }
    }
    await expectRefusal(runNow(t.db, boss, { integration: 'orders', triggeredBy: ' ' }), 'invalid_input', /triggeredBy is required/);
    // A name is exact: 'orders ' once started a run of orders that a filter by 'orders ' never found.
    for (const integration of ['orders ', ' orders', 'orders\t']) {
      await expectRefusal(runNow(t.db, boss, { integration, triggeredBy: 'ada', trigger: 'api' }), 'not_found', /does not exist/);
    }
    expect(await counts()).toEqual(before);
  });

  it('gives a run started from the API the attempts of its integration, as a Run now from the console', async () => {
    await t.db
      .update(integrations)
      .set({ retryDelays: ['1s', '2s', '3s', '4s'] })
      .where(eq(integrations.name, 'quota'));
    const api = await runNow(t.db, boss, { integration: 'quota', triggeredBy: 'script', trigger: 'api' });
    const manual = await runNow(t.db, boss, { integration: 'quota', triggeredBy: 'ada', dedupe: false });
    const rows = await t.db.select({ id: runs.id, maxAttempts: runs.maxAttempts }).from(runs).where(eq(runs.integration, 'quota'));
    expect(rows.find((r) => r.id === api.runId)?.maxAttempts).toBe(5);
    expect(rows.find((r) => r.id === manual.runId)?.maxAttempts).toBe(5);
  });
});

describe('retryRun and retryRuns', () => {
  async function failedRun(integration: string, input: unknown = null) {
    const [row] = await t.db
      .insert(runs)
      .values({ integration, trigger: 'manual', triggeredBy: 'x', correlationId: 'c', maxAttempts: 3, status: 'failed', input })
      .returning();
    return row.id;
  }

  it('starts a new run linked to the failed one with the same input', async () => {
    const failed = await failedRun('orders', { since: '2024-01-01' });
    const { runId } = await retryRun(t.db, boss, { runId: failed, triggeredBy: 'op@example.com' });
    const [run] = await t.db.select().from(runs).where(eq(runs.id, runId));
    expect(run).toMatchObject({ trigger: 'retry', retryOf: failed, input: { since: '2024-01-01' }, status: 'queued' });
    expect((await job(run.jobId!)).state).toBe('created');
    expect((await actions('retry')).at(-1)).toMatchObject({ changedBy: 'op@example.com', newValue: { runId, retryOf: failed } });
  });

  it('refuses runs that are not failed or cancelled, unknown runs and orphaned integrations', async () => {
    const { runId: queued } = await runNow(t.db, boss, { integration: 'orders', triggeredBy: 'ada' });
    await expectRefusal(
      retryRun(t.db, boss, { runId: queued, triggeredBy: 'op' }),
      'invalid_state',
      /is queued: only failed or cancelled runs can be retried/,
    );
    await expectRefusal(
      retryRun(t.db, boss, { runId: '00000000-0000-4000-8000-000000000000', triggeredBy: 'op' }),
      'not_found',
      /does not exist/,
    );
    await expectRefusal(retryRun(t.db, boss, { runId: await failedRun('legacy'), triggeredBy: 'op' }), 'orphaned', /orphaned/);
  });

  /** The runs a bulk retry created, as the ids of the runs they retry (sorted). */
  async function retriedOf({ runIds }: { runIds: string[] }) {
    const created = await t.db
      .select()
      .from(runs)
      .where(sql`${runs.id} in ${runIds}`);
    expect(created).toHaveLength(runIds.length);
    return created.map((r) => r.retryOf).sort();
  }

  it('retries many runs at once, all or nothing, with an audit action per integration', async () => {
    const a = await failedRun('orders');
    const b = await failedRun('ledger');
    expect(await retriedOf(await retryRuns(t.db, boss, { runIds: [a, b], triggeredBy: 'op' }))).toEqual([a, b].sort());
    const bulk = await actions('bulk_retry');
    expect(bulk.map((r) => r.integration).sort()).toEqual(['ledger', 'orders']);

    const { runId: queued } = await runNow(t.db, boss, { integration: 'orders', triggeredBy: 'ada' });
    const c = await failedRun('orders');
    const count = async () => (await t.db.select({ n: sql<number>`count(*)::int` }).from(runs))[0].n;
    const before = await count();
    await expectRefusal(
      retryRuns(t.db, boss, { runIds: [c, queued], triggeredBy: 'op' }),
      'invalid_state',
      new RegExp(`${queued} is queued`),
    );
    expect(await count()).toBe(before);
  });

  it('finds runs named by upper-case ids, one by one and in bulk (a uuid is the same in either case)', async () => {
    // Bulk retry once answered 404 for the upper-case id of an existing failed run.
    const a = await failedRun('orders');
    const b = await failedRun('ledger');
    const bulk = await retryRuns(t.db, boss, { runIds: [a.toUpperCase(), b, b.toUpperCase()], triggeredBy: 'op' });
    expect(await retriedOf(bulk)).toEqual([a, b].sort());
    const c = await failedRun('orders');
    const { runId } = await retryRun(t.db, boss, { runId: c.toUpperCase(), triggeredBy: 'op' });
    expect((await t.db.select().from(runs).where(eq(runs.id, runId)))[0].retryOf).toBe(c);
  });

  it('retries every failed run matching a filter that was not retried yet', async () => {
    const d = await failedRun('ledger');
    const { runIds } = await retryRuns(t.db, boss, { filter: { integration: 'ledger', status: 'failed' }, triggeredBy: 'op' });
    const created = await t.db
      .select()
      .from(runs)
      .where(sql`${runs.id} in ${runIds}`);
    expect(created.map((r) => r.retryOf)).toEqual([d]);
    expect((await retryRuns(t.db, boss, { filter: { integration: 'ledger' }, triggeredBy: 'op' })).runIds).toEqual([]);
  });
});

describe('retry once and idempotent triggers', () => {
  async function failedRun(integration: string) {
    const [row] = await t.db
      .insert(runs)
      .values({ integration, trigger: 'manual', triggeredBy: 'x', correlationId: 'c', maxAttempts: 3, status: 'failed' })
      .returning();
    return row.id;
  }

  it('refuses a second retry of the same run, naming the existing retry, and stores the reason on the run and in the audit', async () => {
    const failed = await failedRun('orders');
    const { runId } = await retryRun(t.db, boss, { runId: failed, triggeredBy: 'op@example.com', reason: 'upstream fixed the VAT table' });
    const [run] = await t.db.select().from(runs).where(eq(runs.id, runId));
    expect(run.reason).toBe('upstream fixed the VAT table');
    expect((await actions('retry')).at(-1)).toMatchObject({ newValue: { runId, retryOf: failed, reason: 'upstream fixed the VAT table' } });

    const error = await retryRun(t.db, boss, { runId: failed, triggeredBy: 'other@example.com' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'invalid_state', details: { existingRetryId: runId } });
    expect((error as Error).message).toContain(`already retried as run ${runId} (queued) by op@example.com at `);
    await expectRefusal(
      retryRuns(t.db, boss, { runIds: [failed], triggeredBy: 'op' }),
      'invalid_state',
      new RegExp(`${failed} as ${runId} by op@example.com`),
    );
  });

  it('two concurrent retries of one run produce one new run; the other is refused naming it', async () => {
    const failed = await failedRun('orders');
    const results = await Promise.allSettled([
      retryRun(t.db, boss, { runId: failed, triggeredBy: 'ada@example.com' }),
      retryRun(t.db, boss, { runId: failed, triggeredBy: 'bob@example.com' }),
      retryRun(t.db, boss, { runId: failed, triggeredBy: 'cy@example.com' }),
    ]);
    const created = await t.db.select().from(runs).where(eq(runs.retryOf, failed));
    expect(created).toHaveLength(1);
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won.map((r) => r.value.runId)).toEqual([created[0].id]);
    const lost = results.filter((r) => r.status === 'rejected').map((r) => r.reason as AppError);
    expect(lost).toHaveLength(2);
    for (const e of lost) expect(e).toMatchObject({ code: 'invalid_state', details: { existingRetryId: created[0].id } });
  });

  it('a double Run now by the same or different people starts one run while it is queued; a later click after it started starts another', async () => {
    const clicks = await Promise.all([
      runNow(t.db, boss, { integration: 'ledger', triggeredBy: 'ada@example.com' }),
      runNow(t.db, boss, { integration: 'ledger', triggeredBy: 'ada@example.com' }),
      runNow(t.db, boss, { integration: 'ledger', triggeredBy: 'bob@example.com' }),
    ]);
    const ids = new Set(clicks.map((c) => c.runId));
    expect(ids.size).toBe(1);
    expect(clicks.filter((c) => c.deduplicated)).toHaveLength(2);
    const [first] = clicks.filter((c) => !c.deduplicated);
    expect((await actions('run_now')).filter((a) => (a.newValue as { runId: string }).runId === first.runId)).toHaveLength(1);

    // A dry-run is another request; an API trigger is never merged.
    const dry = await runNow(t.db, boss, { integration: 'ledger', triggeredBy: 'ada@example.com', dryRun: true });
    expect(dry).toMatchObject({ deduplicated: false });
    expect(dry.runId).not.toBe(first.runId);
    const api = await runNow(t.db, boss, { integration: 'ledger', triggeredBy: 'script', trigger: 'api' });
    expect(api.deduplicated).toBe(false);

    // Once the queued run has started, Run now starts a new one.
    await t.db
      .update(runs)
      .set({ status: 'running', startedAt: sql`now()` })
      .where(eq(runs.id, first.runId));
    const later = await runNow(t.db, boss, { integration: 'ledger', triggeredBy: 'ada@example.com' });
    expect(later).toMatchObject({ deduplicated: false });
    expect(later.runId).not.toBe(first.runId);
    await cancelRun(t.db, boss, { runId: later.runId, by: 'test' });
  });
});

describe('cancelRun', () => {
  it('cancels a queued run and its job, and refuses to cancel it twice', async () => {
    const { runId } = await runNow(t.db, boss, { integration: 'ledger', triggeredBy: 'ada' });
    await cancelRun(t.db, boss, { runId, by: 'op@example.com' });
    const [run] = await t.db.select().from(runs).where(eq(runs.id, runId));
    expect(run.status).toBe('cancelled');
    expect(run.finishedAt).toBeInstanceOf(Date);
    expect((await job(run.jobId!)).state).toBe('cancelled');
    expect((await actions('cancel')).at(-1)).toMatchObject({
      changedBy: 'op@example.com',
      integration: 'ledger',
      newValue: { runId, previousStatus: 'queued' },
    });
    await expectRefusal(cancelRun(t.db, boss, { runId, by: 'op' }), 'invalid_state', /already cancelled/);
  });

  it('keeps a cancel reason on the run and in its audit row, as a retry keeps its own', async () => {
    // Before: POST /api/runs/:id/cancel took { "reason" } and dropped it.
    const { runId } = await runNow(t.db, boss, { integration: 'ledger', triggeredBy: 'ada' });
    await cancelRun(t.db, boss, { runId, by: 'op@example.com', reason: '  ERP freeze until Monday  ' });
    const [run] = await t.db.select().from(runs).where(eq(runs.id, runId));
    expect(run.errorMessage).toBe('cancelled by op@example.com: ERP freeze until Monday');
    expect((await actions('cancel')).at(-1)).toMatchObject({
      newValue: { runId, previousStatus: 'queued', reason: 'ERP freeze until Monday' },
    });
    const { runId: other } = await runNow(t.db, boss, { integration: 'ledger', triggeredBy: 'ada' });
    await expectRefusal(cancelRun(t.db, boss, { runId: other, by: 'op', reason: 'x'.repeat(501) }), 'invalid_input', /reason/);
    expect((await t.db.select().from(runs).where(eq(runs.id, other)))[0].status).toBe('queued');
    await cancelRun(t.db, boss, { runId: other, by: 'op' });
  });
});

describe('pause, resume and scheduled runs', () => {
  it('pausing removes the schedule and scheduled ticks start no run; manual runs still work; resume restores it', async () => {
    await boss.schedule(SCHEDULE_QUEUE, '0 2 * * *', { integration: 'ledger' }, { key: 'ledger' });
    expect(await pauseIntegration(t.db, boss, { integration: 'ledger', by: 'op@example.com' })).toEqual({ paused: true, already: null });
    const [row] = await t.db.select().from(integrations).where(eq(integrations.name, 'ledger'));
    expect(row.paused).toBe(true);
    // A second pause (a page opened before the first) changes nothing and says whose pause holds.
    expect(await pauseIntegration(t.db, boss, { integration: 'ledger', by: 'other@example.com' })).toEqual({
      paused: false,
      already: { by: 'op@example.com', at: expect.any(Date) },
    });
    expect(await boss.getSchedules(SCHEDULE_QUEUE, 'ledger')).toEqual([]);
    expect(await startScheduledRun(t.db, boss, { integration: 'ledger', sentAt: new Date() })).toBeNull();
    await expect(runNow(t.db, boss, { integration: 'ledger', triggeredBy: 'ada' })).resolves.toHaveProperty('runId');

    await resumeIntegration(t.db, boss, { integration: 'ledger', by: 'op@example.com' });
    expect(await resumeIntegration(t.db, boss, { integration: 'ledger', by: 'other@example.com' })).toMatchObject({
      resumed: false,
      already: { by: 'op@example.com' },
    });
    const [schedule] = await boss.getSchedules(SCHEDULE_QUEUE, 'ledger');
    expect(schedule).toMatchObject({ cron: '0 2 * * *', timezone: 'UTC' });
    // The next 02:00 tick after the resume, sent 5 s after it fell.
    const nextTick = nextRuns('0 2 * * *', 'UTC', 1)[0];
    const scheduled = await startScheduledRun(t.db, boss, { integration: 'ledger', sentAt: new Date(nextTick.getTime() + 5_000) });
    const [run] = await t.db.select().from(runs).where(eq(runs.id, scheduled!.runId));
    expect(run).toMatchObject({ trigger: 'schedule', triggeredBy: 'schedule' });
    expect((await actions('pause')).map((a) => a.changedBy)).toEqual(['op@example.com']);
    expect((await actions('resume')).map((a) => a.changedBy)).toEqual(['op@example.com']);
    await expectRefusal(pauseIntegration(t.db, boss, { integration: 'legacy', by: 'op' }), 'orphaned', /orphaned/);
  });
});

describe('scheduled ticks that pg-boss sends late', () => {
  const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k1' });
  const MINUTE = 60_000;
  const row = async (name: string) => (await t.db.select().from(integrations).where(eq(integrations.name, name)))[0];
  const runsOf = (name: string) => t.db.select().from(runs).where(eq(runs.integration, name));
  /** When pg-boss sends a job for the every-minute tick that fell at or before `instant`: up to 10 s later, in the same minute. */
  const sentForTickBefore = (instant: Date) => new Date(instant.getTime() + Math.min(10_000, MINUTE - 1 - (instant.getTime() % MINUTE)));
  /** When pg-boss sends a job for the first every-minute tick after `instant`: 3 s after it. */
  const sentForTickAfter = (instant: Date) => new Date(Math.floor(instant.getTime() / MINUTE) * MINUTE + MINUTE + 3_000);
  async function editSchedule(name: string, schedule: string) {
    const { version } = await row(name);
    const definition = tickers.find((d) => d.name === name)!;
    const result = await updateIntegrationConfig(t.db, {
      integration: name,
      expectedVersion: version,
      patch: { schedule },
      actor: 'admin',
      definition,
      keyring,
    });
    expect(result).toMatchObject({ ok: true, changed: ['schedule'] });
    return (await row(name)).scheduleSince;
  }
  async function pauseAndResume(name: string, resumePolicy: 'skip' | 'run_once') {
    await pauseIntegration(t.db, boss, { integration: name, by: 'op' });
    // Paused 90 s ago, so at least one every-minute tick fell during the pause.
    await t.db
      .update(integrations)
      .set({ resumePolicy, pausedAt: new Date(Date.now() - 90_000) })
      .where(eq(integrations.name, name));
    const resumed = await resumeIntegration(t.db, boss, { integration: name, by: 'op' });
    expect(resumed.missed).toBeGreaterThanOrEqual(1);
    return { resumed, since: (await row(name)).scheduleSince };
  }

  it('starts a run for a tick of the current schedule after its last change and resume, and for no earlier tick', async () => {
    // (a) A tick from before a schedule change: the old schedule's, and the new one's before it existed.
    const changedToDaily = await editSchedule('exporter', '0 2 * * *');
    expect(changedToDaily.getTime()).toBeGreaterThan((await row('exporter')).createdAt.getTime());
    expect(await startScheduledRun(t.db, boss, { integration: 'exporter', sentAt: new Date(changedToDaily.getTime() + 4_000) })).toBeNull();
    const changedToEveryMinute = await editSchedule('exporter', '* * * * *');
    expect(await startScheduledRun(t.db, boss, { integration: 'exporter', sentAt: sentForTickBefore(changedToEveryMinute) })).toBeNull();

    // (b) A tick that fell during a pause, sent after a resume whose policy is skip.
    const { resumed, since: resumedAt } = await pauseAndResume('pausable', 'skip');
    expect(resumed).toMatchObject({ resumed: true, runId: null });
    expect((await actions('resume')).at(-1)?.newValue).toMatchObject({ resumePolicy: 'skip', missed: resumed.missed });
    expect(await startScheduledRun(t.db, boss, { integration: 'pausable', sentAt: sentForTickBefore(resumedAt) })).toBeNull();

    // (c) A normal tick of a schedule nobody touched.
    const steadySince = (await row('steady')).scheduleSince;
    const steady = await startScheduledRun(t.db, boss, { integration: 'steady', sentAt: sentForTickAfter(steadySince) });

    expect(await runsOf('exporter')).toEqual([]);
    expect(await runsOf('pausable')).toEqual([]);
    expect((await runsOf('steady')).map((r) => [r.id, r.trigger, r.triggeredBy])).toEqual([[steady?.runId, 'schedule', 'schedule']]);

    // The next tick after the change and after the resume is due, and runs once each.
    for (const [name, since] of [
      ['exporter', changedToEveryMinute],
      ['pausable', resumedAt],
    ] as const) {
      const started = await startScheduledRun(t.db, boss, { integration: name, sentAt: sentForTickAfter(since) });
      expect((await runsOf(name)).map((r) => r.id)).toEqual([started?.runId]);
    }
  });

  it('a tick missed during a pause resumed with run_once: the resume starts the one run, the late tick none', async () => {
    const { resumed, since } = await pauseAndResume('catcher', 'run_once');
    expect(resumed.runId).toEqual(expect.any(String));
    expect(await startScheduledRun(t.db, boss, { integration: 'catcher', sentAt: sentForTickBefore(since) })).toBeNull();
    expect((await runsOf('catcher')).map((r) => r.id)).toEqual([resumed.runId]);
  });

  it('one run per tick: a job delivered again, a second job for the tick and concurrent deliveries start none', async () => {
    const since = (await row('redelivered')).scheduleSince;
    const sentAt = sentForTickAfter(since);
    const first = await startScheduledRun(t.db, boss, { integration: 'redelivered', sentAt });
    expect(first).not.toBeNull();
    expect((await row('redelivered')).lastScheduleTick).toEqual(new Date(sentAt.getTime() - 3_000));
    // The worker stopped before completing the job: pg-boss delivers the same job (same createdOn) again.
    expect(await startScheduledRun(t.db, boss, { integration: 'redelivered', sentAt })).toBeNull();
    // A second job for the same tick, sent later in the same minute.
    expect(await startScheduledRun(t.db, boss, { integration: 'redelivered', sentAt: new Date(sentAt.getTime() + 20_000) })).toBeNull();
    // A late job for an earlier tick than the one that ran.
    expect(await startScheduledRun(t.db, boss, { integration: 'redelivered', sentAt: new Date(sentAt.getTime() - MINUTE) })).toBeNull();
    expect((await runsOf('redelivered')).map((r) => r.id)).toEqual([first!.runId]);

    // Four deliveries of the next tick at once: one run.
    const next = new Date(sentAt.getTime() + MINUTE);
    const started = await Promise.all(
      [0, 1, 2, 3].map((i) => startScheduledRun(t.db, boss, { integration: 'redelivered', sentAt: new Date(next.getTime() + i * 1_000) })),
    );
    expect(started.filter(Boolean)).toHaveLength(1);
    expect(await runsOf('redelivered')).toHaveLength(2);
    // The tick after it runs as usual.
    expect(await startScheduledRun(t.db, boss, { integration: 'redelivered', sentAt: new Date(next.getTime() + MINUTE) })).not.toBeNull();
    expect(await runsOf('redelivered')).toHaveLength(3);
  });

  it('a job sent long after the current schedule last ticked was sent for another schedule: no run', async () => {
    await t.db
      .update(integrations)
      .set({ schedule: '0 2 * * *', scheduleSince: new Date('2026-01-01T00:00:00Z'), lastScheduleTick: null })
      .where(eq(integrations.name, 'steady'));
    const before = await runsOf('steady');
    const lastTick = new Date('2026-03-10T02:00:00Z');
    const late = new Date(lastTick.getTime() + SCHEDULE_TICK_LATENESS_MS + 1_000);
    expect(await startScheduledRun(t.db, boss, { integration: 'steady', sentAt: late })).toBeNull();
    expect(await startScheduledRun(t.db, boss, { integration: 'steady', sentAt: new Date(lastTick.getTime() + 30_000) })).not.toBeNull();
    expect(await runsOf('steady')).toHaveLength(before.length + 1);
  });

  it('a daily schedule runs once when the clocks go back over its time, and an hourly one every hour', async () => {
    // Europe/Berlin, 2026-10-25: 02:30 CEST is 00:30Z and 02:30 CET is 01:30Z; pg-boss sends both.
    await t.db
      .update(integrations)
      .set({ schedule: '30 2 * * *', timezone: 'Europe/Berlin', scheduleSince: new Date('2026-10-01T00:00:00Z'), lastScheduleTick: null })
      .where(eq(integrations.name, 'steady'));
    const before = (await runsOf('steady')).length;
    expect(await startScheduledRun(t.db, boss, { integration: 'steady', sentAt: new Date('2026-10-25T00:30:20Z') })).not.toBeNull();
    expect(await startScheduledRun(t.db, boss, { integration: 'steady', sentAt: new Date('2026-10-25T01:30:20Z') })).toBeNull();
    expect(await startScheduledRun(t.db, boss, { integration: 'steady', sentAt: new Date('2026-10-26T01:30:20Z') })).not.toBeNull();
    expect(await runsOf('steady')).toHaveLength(before + 2);

    await t.db
      .update(integrations)
      .set({ schedule: '0 * * * *', scheduleSince: new Date('2026-10-01T00:00:00Z'), lastScheduleTick: null })
      .where(eq(integrations.name, 'steady'));
    for (const hour of ['00', '01', '02']) {
      expect(await startScheduledRun(t.db, boss, { integration: 'steady', sentAt: new Date(`2026-10-25T${hour}:00:20Z`) })).not.toBeNull();
    }
    expect(await runsOf('steady')).toHaveLength(before + 5);
  });
});

describe('operator breaker actions', () => {
  it('openBreaker holds the breaker open and resetBreaker closes it, both audited', async () => {
    await openBreaker(t.db, { key: 'orders', by: 'op@example.com' });
    const [open] = await t.db.select().from(breakers).where(eq(breakers.key, 'orders'));
    expect(open).toMatchObject({ state: 'open', forcedOpen: true, openUntil: null });
    await resetBreaker(t.db, { key: 'orders', by: 'lead@example.com' });
    const [closed] = await t.db.select().from(breakers).where(eq(breakers.key, 'orders'));
    expect(closed).toMatchObject({ state: 'closed', forcedOpen: false, consecutiveFailures: 0 });
    expect((await actions('breaker_open'))[0]).toMatchObject({ changedBy: 'op@example.com', newValue: { key: 'orders', until: null } });
    expect((await actions('breaker_reset'))[0]).toMatchObject({
      changedBy: 'lead@example.com',
      newValue: { key: 'orders', previousState: 'open' },
    });
    await expectRefusal(resetBreaker(t.db, { key: 'no-such-system', by: 'op' }), 'not_found', /No breaker 'no-such-system'/);
  });

  it('opening a breaker already held open, or resetting one already closed, is refused and changes nothing', async () => {
    const row = async () => (await t.db.select().from(breakers).where(eq(breakers.key, 'orders')))[0];
    // Closed with no failures counted (the test above reset it): a reset has nothing to do.
    const resetsBefore = (await actions('breaker_reset')).length;
    await expectRefusal(
      resetBreaker(t.db, { key: 'orders', by: 'lead@example.com', boss }),
      'invalid_state',
      /^Breaker 'orders' is already closed with no failures counted: nothing changed$/,
    );
    expect(await actions('breaker_reset')).toHaveLength(resetsBefore);

    await openBreaker(t.db, { key: 'orders', by: 'op@example.com', boss });
    const opened = await row();
    const opensBefore = (await actions('breaker_open')).length;
    // A second operator on a page opened before the first one's click.
    await expectRefusal(
      openBreaker(t.db, { key: 'orders', by: 'lead@example.com', boss }),
      'invalid_state',
      /^Breaker 'orders' was already opened by op@example\.com at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: nothing changed; reset it to let requests through$/,
    );
    expect(await row()).toEqual(opened);
    expect(await actions('breaker_open')).toHaveLength(opensBefore);
    // Giving it an end is a change, and is applied.
    const until = new Date(Date.now() + 60 * 60_000);
    await openBreaker(t.db, { key: 'orders', by: 'lead@example.com', until, boss });
    expect((await row()).openUntil?.getTime()).toBe(until.getTime());
    await resetBreaker(t.db, { key: 'orders', by: 'lead@example.com', boss });
    expect(await row()).toMatchObject({ state: 'closed', forcedOpen: false });
  });

  it('runs jobs on the singleton run queue', async () => {
    const queue = await boss.getQueue(RUNS_QUEUE);
    expect(queue?.policy).toBe('singleton');
  });
});

describe('correlation id', () => {
  it('every trigger hands the caller’s correlation id to the run it creates and to its audit row', async () => {
    const { runId } = await runNow(t.db, boss, {
      integration: 'orders',
      triggeredBy: 'oscar',
      dedupe: false,
      correlationId: 'corr-run-now',
    });
    await t.db.update(runs).set({ status: 'failed' }).where(eq(runs.id, runId));
    const retried = await retryRun(t.db, boss, { runId, triggeredBy: 'oscar', correlationId: 'corr-retry' });
    await cancelRun(t.db, boss, { runId: retried.runId, by: 'oscar', correlationId: 'corr-cancel' });
    await pauseIntegration(t.db, boss, { integration: 'orders', by: 'oscar', correlationId: 'corr-pause' });
    await resumeIntegration(t.db, boss, { integration: 'orders', by: 'oscar', correlationId: 'corr-resume' });
    await openBreaker(t.db, { key: 'orders', by: 'oscar', correlationId: 'corr-open' });
    await resetBreaker(t.db, { key: 'orders', by: 'oscar', correlationId: 'corr-reset' });

    const created = await t.db
      .select({ id: runs.id, correlationId: runs.correlationId })
      .from(runs)
      .where(sql`${runs.id} in (${runId}, ${retried.runId})`);
    expect(Object.fromEntries(created.map((r) => [r.id, r.correlationId]))).toEqual({
      [runId]: 'corr-run-now',
      [retried.runId]: 'corr-retry',
    });
    const trail = await t.db
      .select({ fieldName: auditLog.fieldName, correlationId: auditLog.correlationId })
      .from(auditLog)
      .where(sql`${auditLog.correlationId} like 'corr-%'`)
      .orderBy(asc(auditLog.id));
    expect(trail).toEqual([
      { fieldName: 'run_now', correlationId: 'corr-run-now' },
      { fieldName: 'retry', correlationId: 'corr-retry' },
      { fieldName: 'cancel', correlationId: 'corr-cancel' },
      { fieldName: 'pause', correlationId: 'corr-pause' },
      { fieldName: 'resume', correlationId: 'corr-resume' },
      { fieldName: 'breaker_open', correlationId: 'corr-open' },
      { fieldName: 'breaker_reset', correlationId: 'corr-reset' },
    ]);
  });
});
