import { and, asc, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { auditLog, bulkOperations, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { sleep, startTestBoss, TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { AppError } from '../errors';
import { startPlatformWorker } from '../execution/worker';
import { buildRegistry, syncRegistry } from '../registry';
import { openBreaker, resetBreaker } from '../resilience/breaker';
import { cancelBulkOperation, retryRuns, setBulkPace } from './bulk';
import { dispatchHeldRuns, startBulkDispatcher } from './bulk-dispatch';
import { getBulkOperation, listBulkOperations } from './bulk-views';

const def = (name: string) =>
  defineIntegration({
    name,
    description: name,
    settings: z.object({}),
    defaults: { retry: { delays: ['1s'] } },
    async execute() {
      return { processed: 1 };
    },
  }) as IntegrationDefinition;
const defs = [def('crm'), def('ledger'), def('quick'), def('ordered'), def('paced'), def('slowed')];

let t: TestDatabase;
let boss: PgBoss;
beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  await syncRegistry(t.db, { registry: buildRegistry(defs) });
});
afterAll(async () => {
  await boss.stop({ graceful: false });
  await t.drop();
});

async function failedRuns(integration: string, n: number): Promise<string[]> {
  const rows = await t.db
    .insert(runs)
    .values(
      Array.from({ length: n }, () => ({
        integration,
        trigger: 'manual' as const,
        triggeredBy: 'x',
        correlationId: 'c',
        maxAttempts: 2,
        status: 'failed' as const,
      })),
    )
    .returning({ id: runs.id });
  return rows.map((r) => r.id);
}

const runRows = (ids: string[]) => t.db.select().from(runs).where(inArray(runs.id, ids)).orderBy(asc(runs.releasedAt));
async function jobStates(ids: string[]) {
  const rows = await t.db.execute<{ state: string }>(
    sql`select state from pgboss.job where name = 'junction-runs' and data->>'runId' in ${ids}`,
  );
  return rows.map((r) => r.state);
}

describe('staggered, breaker-aware bulk retry', () => {
  it('the retries take turns, and are released, in the order of the runs they retry', async () => {
    // Failed a minute apart, oldest first; named in another order.
    const rows = await t.db
      .insert(runs)
      .values(
        Array.from({ length: 8 }, (_, i) => ({
          integration: 'ordered',
          trigger: 'manual' as const,
          triggeredBy: 'x',
          correlationId: 'c',
          maxAttempts: 2,
          status: 'failed' as const,
          createdAt: sql`now() - make_interval(mins => ${8 - i})`,
        })),
      )
      .returning({ id: runs.id });
    const chronological = rows.map((r) => r.id);
    const { runIds, bulkOperationId } = await retryRuns(t.db, boss, {
      runIds: [...chronological].reverse(),
      triggeredBy: 'op@example.com',
      pace: { runs: 1, per: '1h' },
    });
    const inTurn = await t.db
      .select({ id: runs.id, retryOf: runs.retryOf })
      .from(runs)
      .where(eq(runs.bulkOperationId, bulkOperationId!))
      .orderBy(asc(runs.createdAt), asc(runs.id));
    expect(inTurn.map((r) => r.retryOf)).toEqual(chronological);
    expect(inTurn.map((r) => r.id)).toEqual(runIds);
    // The first slot went at once: the retry of the oldest.
    const released = await t.db
      .select({ retryOf: runs.retryOf })
      .from(runs)
      .where(and(eq(runs.bulkOperationId, bulkOperationId!), isNotNull(runs.releasedAt)));
    expect(released).toEqual([{ retryOf: chronological[0] }]);
  });

  it('bulk retry of 30 runs with the breaker open releases none until it closes, then releases them at the configured pace', async () => {
    const originals = await failedRuns('crm', 30);
    await openBreaker(t.db, { key: 'crm', by: 'op@example.com' });
    const { runIds, bulkOperationId } = await retryRuns(t.db, boss, {
      runIds: originals,
      triggeredBy: 'op@example.com',
      reason: 'CRM is back',
      pace: { runs: 5, per: '1s' },
    });
    expect(runIds).toHaveLength(30);
    const dispatcher = startBulkDispatcher(t.db, boss, { intervalMs: 100 });
    try {
      await sleep(1_500);
      const held = await runRows(runIds);
      expect(held.every((r) => r.status === 'queued' && r.hold === 'breaker' && r.jobId === null && r.releasedAt === null)).toBe(true);
      expect(await jobStates(runIds)).toEqual([]);
      const waiting = await getBulkOperation(t.db, { id: bulkOperationId! });
      expect(waiting).toMatchObject({
        status: 'active',
        total: 30,
        createdBy: 'op@example.com',
        reason: 'CRM is back',
        integrations: ['crm'],
        pace: { runs: 5, perMs: 1_000 },
      });
      expect(waiting!.progress).toEqual({ queued: 30, behindBreaker: 30, held: 30, started: 0, succeeded: 0, failed: 0, cancelled: 0 });

      const closedAt = Date.now();
      await resetBreaker(t.db, { key: 'crm', by: 'op@example.com' });
      const released = await waitFor(
        'all 30 runs to be released',
        async () => {
          const rows = await runRows(runIds);
          return rows.every((r) => r.releasedAt !== null) ? rows : undefined;
        },
        20_000,
      );
      const times = released.map((r) => r.releasedAt!.getTime()).sort((a, b) => a - b);
      // Never more than 5 in any 1-second window, so 30 take at least 5 s after the breaker closed.
      for (const start of times) expect(times.filter((x) => x >= start && x < start + 1_000).length).toBeLessThanOrEqual(5);
      expect(times[29] - times[0]).toBeGreaterThanOrEqual(5_000 - 50);
      expect(times[0]).toBeGreaterThanOrEqual(closedAt - 1_000);
      expect(released.every((r) => r.hold === null && r.jobId !== null && r.retryOf !== null && r.reason === 'CRM is back')).toBe(true);
      expect(await jobStates(runIds)).toHaveLength(30);
      const [audit] = await t.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.fieldName, 'bulk_retry'), eq(auditLog.integration, 'crm')));
      expect(audit.newValue).toMatchObject({ bulkOperationId, pace: { runs: 5, per: '1s' }, reason: 'CRM is back' });
      // Released but not started (no worker here): cancelling the operation takes their jobs off the queue.
      expect(await cancelBulkOperation(t.db, boss, { id: bulkOperationId!, by: 'op' })).toEqual({ cancelled: 30 });
      expect(new Set(await jobStates(runIds))).toEqual(new Set(['cancelled']));
    } finally {
      await dispatcher.stop();
    }
  }, 40_000);

  it('cancelling a bulk operation cancels what has not started (held and still-queued runs), not what runs', async () => {
    const originals = await failedRuns('ledger', 10);
    const { runIds, bulkOperationId } = await retryRuns(t.db, boss, { runIds: originals, triggeredBy: 'op', pace: { runs: 2, per: '1h' } });
    const rows = await runRows(runIds);
    const released = rows.filter((r) => r.releasedAt !== null);
    expect(released).toHaveLength(2);
    expect((await dispatchHeldRuns(t.db, boss)).released).toBe(0);
    // One of the released runs has started on a worker.
    await t.db
      .update(runs)
      .set({ status: 'running', startedAt: sql`now()`, attemptCount: 1 })
      .where(eq(runs.id, released[0].id));

    expect(await cancelBulkOperation(t.db, boss, { id: bulkOperationId!, by: 'lead@example.com' })).toEqual({ cancelled: 9 });
    const after = await runRows(runIds);
    expect(after.filter((r) => r.status === 'cancelled')).toHaveLength(9);
    expect(after.find((r) => r.id === released[0].id)!.status).toBe('running');
    expect(await jobStates([released[1].id])).toEqual(['cancelled']);
    const view = await getBulkOperation(t.db, { id: bulkOperationId! });
    expect(view).toMatchObject({ status: 'cancelled', cancelledBy: 'lead@example.com', progress: { queued: 0, started: 1, cancelled: 9 } });
    expect((await listBulkOperations(t.db, { limit: 5 }))[0].id).toBe(bulkOperationId);
    const [audit] = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.fieldName, 'bulk_cancel'), eq(auditLog.integration, 'ledger')));
    expect(audit).toMatchObject({ changedBy: 'lead@example.com', integration: 'ledger', newValue: { bulkOperationId, cancelled: 9 } });
    const again = await cancelBulkOperation(t.db, boss, { id: bulkOperationId!, by: 'op' }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(AppError);
    expect(again).toMatchObject({ code: 'invalid_state' });
    expect(await dispatchHeldRuns(t.db, boss)).toEqual({ released: 0, behindBreaker: 0 });
  });

  it('cancelling a bulk operation none of whose runs is left to start is refused and changes nothing', async () => {
    const originals = await failedRuns('ledger', 3);
    const { runIds, bulkOperationId } = await retryRuns(t.db, boss, { runIds: originals, triggeredBy: 'op', pace: { runs: 5, per: '1s' } });
    // Every retry ran: two finished, one still running (a stale page's Cancel button, or a script).
    await t.db
      .update(runs)
      .set({ status: 'succeeded', startedAt: sql`now()`, finishedAt: sql`now()`, attemptCount: 1, hold: null })
      .where(inArray(runs.id, runIds.slice(0, 2)));
    await t.db
      .update(runs)
      .set({ status: 'running', startedAt: sql`now()`, attemptCount: 1, hold: null })
      .where(eq(runs.id, runIds[2]));
    const auditBefore = await t.db.select({ id: auditLog.id }).from(auditLog).where(eq(auditLog.fieldName, 'bulk_cancel'));

    const refused = await cancelBulkOperation(t.db, boss, { id: bulkOperationId!, by: 'op' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: 'invalid_state' });
    expect((refused as AppError).message).toBe(
      `Bulk operation ${bulkOperationId} has no run left to cancel: all 3 have started (2 finished); cancel a running one from its run page`,
    );
    const view = await getBulkOperation(t.db, { id: bulkOperationId! });
    expect(view).toMatchObject({ status: 'active', cancelledAt: null, cancelledBy: null });
    expect(await t.db.select({ id: auditLog.id }).from(auditLog).where(eq(auditLog.fieldName, 'bulk_cancel'))).toEqual(auditBefore);

    // Finished: still 'done', not relabelled 'cancelled'.
    await t.db
      .update(runs)
      .set({ status: 'succeeded', finishedAt: sql`now()` })
      .where(eq(runs.id, runIds[2]));
    const again = await cancelBulkOperation(t.db, boss, { id: bulkOperationId!, by: 'op' }).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'invalid_state' });
    expect((again as AppError).message).toMatch(/has no run left to cancel: all 3 have started \(3 finished\)/);
    expect(await getBulkOperation(t.db, { id: bulkOperationId! })).toMatchObject({ status: 'done', cancelledAt: null });
  });

  it('a worker releases held runs at the pace and the operation reports them succeeded', async () => {
    const originals = await failedRuns('quick', 3);
    const { bulkOperationId } = await retryRuns(t.db, boss, { runIds: originals, triggeredBy: 'op', pace: { runs: 2, per: '1s' } });
    const worker = await startPlatformWorker({
      db: t.db,
      boss,
      registry: buildRegistry(defs),
      workerId: 'bulk-worker',
      options: TEST_WORKER_OPTIONS,
    });
    try {
      const done = await waitFor('the bulk operation to finish', async () => {
        const view = await getBulkOperation(t.db, { id: bulkOperationId! });
        return view?.status === 'done' ? view : undefined;
      });
      expect(done.progress).toEqual({ queued: 0, behindBreaker: 0, held: 0, started: 0, succeeded: 3, failed: 0, cancelled: 0 });
      const held = await t.db
        .select()
        .from(runs)
        .where(and(eq(runs.bulkOperationId, bulkOperationId!), isNotNull(runs.hold)));
      expect(held).toEqual([]);
    } finally {
      await worker.stop({ timeoutMs: 2_000 });
    }
  });

  it('speeding up a running bulk retry releases its held runs at the new pace on the next dispatch, audited old → new', async () => {
    const originals = await failedRuns('paced', 6);
    const { runIds, bulkOperationId } = await retryRuns(t.db, boss, { runIds: originals, triggeredBy: 'op', pace: { runs: 1, per: '1h' } });
    expect((await runRows(runIds)).filter((r) => r.releasedAt !== null)).toHaveLength(1);
    expect((await dispatchHeldRuns(t.db, boss, { integration: 'paced' })).released).toBe(0);
    expect((await getBulkOperation(t.db, { id: bulkOperationId! }))!.progress).toMatchObject({ queued: 6, held: 5 });

    const changed = await setBulkPace(t.db, {
      bulkOperationId: bulkOperationId!,
      pace: { runs: 100, per: '1m' },
      actor: 'lead@example.com',
      correlationId: 'pace-change',
    });
    expect(changed).toEqual({ bulkOperationId, previous: { runs: 1, per: '1h' }, pace: { runs: 100, per: '1m' } });
    expect(await dispatchHeldRuns(t.db, boss, { integration: 'paced' })).toEqual({ released: 5, behindBreaker: 0 });
    expect((await runRows(runIds)).every((r) => r.releasedAt !== null && r.hold === null)).toBe(true);
    expect(await getBulkOperation(t.db, { id: bulkOperationId! })).toMatchObject({
      pace: { runs: 100, perMs: 60_000 },
      progress: { queued: 6, held: 0 },
    });
    const audit = await t.db.select().from(auditLog).where(eq(auditLog.fieldName, 'bulk_pace'));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      kind: 'action',
      changedBy: 'lead@example.com',
      integration: 'paced',
      correlationId: 'pace-change',
      newValue: { bulkOperationId, previous: { runs: 1, per: '1h' }, pace: { runs: 100, per: '1m' }, held: 5 },
    });
  });

  it('slowing down a running bulk retry holds back the runs the old pace would have released', async () => {
    const originals = await failedRuns('slowed', 6);
    const { runIds, bulkOperationId } = await retryRuns(t.db, boss, { runIds: originals, triggeredBy: 'op', pace: { runs: 2, per: '1s' } });
    expect((await runRows(runIds)).filter((r) => r.releasedAt !== null)).toHaveLength(2);
    await setBulkPace(t.db, { bulkOperationId: bulkOperationId!, pace: { runs: 1, per: '1h' }, actor: 'op' });
    // At 2 per second, two more would go now.
    await sleep(1_200);
    expect((await dispatchHeldRuns(t.db, boss, { integration: 'slowed' })).released).toBe(0);
    expect((await runRows(runIds)).filter((r) => r.releasedAt !== null)).toHaveLength(2);
    await cancelBulkOperation(t.db, boss, { id: bulkOperationId!, by: 'op' });
  });

  it('changing the pace is refused, changing nothing, for an invalid pace, a cancelled, released or unknown operation', async () => {
    const originals = await failedRuns('slowed', 3);
    const { bulkOperationId } = await retryRuns(t.db, boss, { runIds: originals, triggeredBy: 'op', pace: { runs: 1, per: '1h' } });
    const id = bulkOperationId!;
    const paceOf = async (bulk: string) =>
      (
        await t.db
          .select({ runs: bulkOperations.paceRuns, ms: bulkOperations.pacePeriodMs })
          .from(bulkOperations)
          .where(eq(bulkOperations.id, bulk))
      )[0];
    const audited = async () => (await t.db.select({ id: auditLog.id }).from(auditLog).where(eq(auditLog.fieldName, 'bulk_pace'))).length;
    const before = await audited();
    const refusal = (pace: { runs: number; per: string }, bulk = id) =>
      setBulkPace(t.db, { bulkOperationId: bulk, pace, actor: 'op' }).then(
        () => undefined,
        (e: unknown) => e as AppError,
      );

    for (const pace of [
      { runs: 0, per: '1m' },
      { runs: 501, per: '1m' },
      { runs: 1.5, per: '1m' },
      { runs: 5, per: '2h' },
      { runs: 5, per: '10ms' },
      { runs: 5, per: 'soon' },
    ]) {
      expect(await refusal(pace), JSON.stringify(pace)).toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/^pace\./) });
    }
    expect(await paceOf(id)).toEqual({ runs: 1, ms: 3_600_000 });

    // The pace it has already (written another way too): nothing to change, nothing audited.
    for (const same of [
      { runs: 1, per: '1h' },
      { runs: 1, per: '60m' },
    ]) {
      expect(await refusal(same), JSON.stringify(same)).toMatchObject({
        code: 'invalid_state',
        message: `Bulk operation ${id} already starts at most 1 per hour per integration: nothing changed`,
      });
    }

    const unknown = '00000000-0000-4000-8000-000000000000';
    expect(await refusal({ runs: 5, per: '1m' }, unknown)).toMatchObject({
      code: 'not_found',
      message: `Bulk operation ${unknown} does not exist`,
    });

    await cancelBulkOperation(t.db, boss, { id, by: 'lead@example.com' });
    const cancelled = await refusal({ runs: 20, per: '1m' });
    expect(cancelled).toBeInstanceOf(AppError);
    expect(cancelled).toMatchObject({
      code: 'invalid_state',
      message: expect.stringMatching(/was cancelled by lead@example.com at .*no run of it is left to pace/),
    });
    expect(await paceOf(id)).toEqual({ runs: 1, ms: 3_600_000 });

    // Every run released (the first test's operation): nothing left for a pace to hold back.
    const [released] = await t.db.select({ id: bulkOperations.id }).from(bulkOperations).where(eq(bulkOperations.paceRuns, 100));
    expect(await refusal({ runs: 5, per: '1m' }, released.id)).toMatchObject({
      code: 'invalid_state',
      message: `Bulk operation ${released.id} has no run left to release: all 6 have been released or have finished, so its pace no longer applies`,
    });
    expect(await paceOf(released.id)).toEqual({ runs: 100, ms: 60_000 });
    expect(await audited()).toBe(before);
  });
});
