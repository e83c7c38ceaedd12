import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { attempts, runs } from '../../../db/schema';
import { startTestPlatform, waitFor, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { TransientError } from '../errors';
import { sendRunJob } from '../execution/queue';
import { runNow } from '../triggers/triggers';
import { openBreaker, resetBreaker } from './breaker';

/**
 * Runs deferred by an open breaker wait for its half-open time (or, held open by an operator, look
 * again every cooldown). An operator who resets the breaker means "send now": the runs it deferred,
 * of every integration sharing it, start at once instead of at the time they were deferred to.
 */

const calls: string[] = [];
const defs = [
  ...['ledger-export', 'ledger-import', 'elsewhere', 'ledger-legacy'].map((name) =>
    defineIntegration({
      name,
      description: 'No-op',
      settings: z.object({}),
      breakerKey: name === 'elsewhere' ? 'other-system' : 'ledger',
      async execute() {
        calls.push(name);
        return { ok: true };
      },
    }),
  ),
  ...['ledger-sync', 'ledger-ops', 'ledger-retry'].map((name) =>
    defineIntegration({
      name,
      description: 'Fails (transient) and tries again in an hour',
      settings: z.object({}),
      breakerKey: 'ledger',
      defaults: { retry: { delays: ['1h'] } },
      async execute() {
        calls.push(name);
        throw new TransientError('the ledger answered 503');
      },
    }),
  ),
] as IntegrationDefinition[];

let p: TestPlatform;
beforeAll(async () => {
  p = await startTestPlatform(defs, { workerId: 'reset-wakes' });
});
afterAll(async () => {
  await p?.stop();
});

async function deferredAnHour(runId: string) {
  return waitFor(
    `run ${runId} to be deferred by the open breaker`,
    async () => {
      const [row] = await p.t.db.select().from(runs).where(eq(runs.id, runId));
      return row.status === 'deferred' && row.nextAttemptAt && row.nextAttemptAt.getTime() > Date.now() + 30 * 60_000 ? row : undefined;
    },
    10_000,
  );
}

/**
 * A later run of `integration`, deferred earlier and due now: delivered, it is not its turn (a run
 * ahead has started), so the runner defers it again, with a new job, to the time the run ahead is due.
 */
async function deferredForItsTurn(integration: string, correlationId: string, opts: { breakerDeferredBefore?: boolean } = {}) {
  const { t, boss } = p;
  const jobId = randomUUID();
  const [behind] = await t.db
    .insert(runs)
    .values({
      integration,
      trigger: 'manual',
      triggeredBy: 'test',
      correlationId,
      status: 'deferred',
      maxAttempts: 2,
      jobId,
      nextAttemptAt: new Date(),
    })
    .returning();
  if (opts.breakerDeferredBefore) {
    // An open breaker deferred it once (the runner's record of that), and its time has come.
    await t.db.insert(attempts).values({
      runId: behind.id,
      runCreatedAt: behind.createdAt,
      number: 1,
      jobId: randomUUID(),
      worker: 'reset-wakes',
      outcome: 'deferred',
      errorMessage: "Circuit 'ledger' is open until then: no request was sent; the run continues after that",
      errorClass: 'CircuitOpenError',
      startedAt: new Date(Date.now() - 60_000),
      finishedAt: new Date(Date.now() - 60_000),
    });
  }
  await sendRunJob(boss, t.db, { runId: behind.id, jobId, integration });
  const turnDeferred = await waitFor(
    'the later run to be deferred for its turn',
    async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, behind.id));
      return row.status === 'deferred' && row.jobId !== jobId ? row : undefined;
    },
    10_000,
  );
  return { behind, turnDeferred };
}

it('resetting a breaker starts the runs it deferred, of every integration sharing it, now', async () => {
  const { t, boss } = p;
  await openBreaker(t.db, { key: 'ledger', by: 'lead@example.com', until: new Date(Date.now() + 60 * 60_000), boss });
  await openBreaker(t.db, { key: 'other-system', by: 'lead@example.com', until: new Date(Date.now() + 60 * 60_000), boss });
  const a = await runNow(t.db, boss, { integration: 'ledger-export', triggeredBy: 'test' });
  const b = await runNow(t.db, boss, { integration: 'ledger-import', triggeredBy: 'test' });
  const other = await runNow(t.db, boss, { integration: 'elsewhere', triggeredBy: 'test' });
  await Promise.all([deferredAnHour(a.runId), deferredAnHour(b.runId), deferredAnHour(other.runId)]);
  expect(calls).toEqual([]);

  await resetBreaker(t.db, { key: 'ledger', by: 'oscar@example.com', boss });
  const done = await waitFor(
    'both runs deferred by the reset breaker to succeed',
    async () => {
      const rows = await t.db
        .select()
        .from(runs)
        .where(inArray(runs.id, [a.runId, b.runId]));
      return rows.every((r) => r.status === 'succeeded') ? rows : undefined;
    },
    10_000,
  );
  expect(done).toHaveLength(2);
  expect(calls.sort()).toEqual(['ledger-export', 'ledger-import']);

  // The breaker of another system is not this reset's: its run still waits.
  const [still] = await t.db.select().from(runs).where(eq(runs.id, other.runId));
  expect(still.status).toBe('deferred');
  expect(still.nextAttemptAt!.getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);
});

it('a reset of a breaker that was closed is refused and wakes nothing', async () => {
  const { t, boss } = p;
  const before = await t.db.select({ id: runs.id, nextAttemptAt: runs.nextAttemptAt }).from(runs).where(eq(runs.integration, 'elsewhere'));
  await expect(resetBreaker(t.db, { key: 'ledger', by: 'oscar@example.com', boss })).rejects.toMatchObject({
    code: 'invalid_state',
    message: "Breaker 'ledger' is already closed with no failures counted: nothing changed",
  });
  const after = await t.db.select({ id: runs.id, nextAttemptAt: runs.nextAttemptAt }).from(runs).where(eq(runs.integration, 'elsewhere'));
  expect(after).toEqual(before);
});

it('a reset wakes only the runs its breaker deferred, not a run deferred for its turn behind an earlier run', async () => {
  const { t, boss } = p;
  // A started run of ledger-sync waits an hour for its next attempt (its own retry delay).
  const ahead = await runNow(t.db, boss, { integration: 'ledger-sync', triggeredBy: 'test' });
  const waiting = await waitFor(
    'the first ledger-sync run to wait for its retry',
    async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, ahead.runId));
      return row.status === 'retrying' && row.nextAttemptAt ? row : undefined;
    },
    10_000,
  );
  // A later ledger-sync run deferred by the breaker earlier, due now: delivered, it is not its turn
  // (the run ahead has started), so the runner defers it again, to the time the run ahead is due.
  const { behind, turnDeferred } = await deferredForItsTurn('ledger-sync', 'corr-behind');
  expect(turnDeferred.nextAttemptAt!.getTime()).toBe(waiting.nextAttemptAt!.getTime());

  // And a run deferred by the open breaker.
  await openBreaker(t.db, { key: 'ledger', by: 'lead@example.com', until: new Date(Date.now() + 60 * 60_000), boss });
  const byBreaker = await runNow(t.db, boss, { integration: 'ledger-export', triggeredBy: 'test' });
  await deferredAnHour(byBreaker.runId);

  await resetBreaker(t.db, { key: 'ledger', by: 'oscar@example.com', boss });
  await waitFor(
    'the run deferred by the breaker to succeed',
    async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, byBreaker.runId));
      return row.status === 'succeeded';
    },
    10_000,
  );
  // The run deferred for its turn is not delivered again (each delivery that finds it is not its
  // turn gives it a new job): it still waits, with the same job, for the run ahead.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const [after] = await t.db.select().from(runs).where(eq(runs.id, behind.id));
  expect(after.status).toBe('deferred');
  expect(after.jobId).toBe(turnDeferred.jobId);
  expect(after.nextAttemptAt!.getTime()).toBe(waiting.nextAttemptAt!.getTime());
  const [job] = await t.db.execute<{ state: string; due_later: boolean }>(
    sql`select state, start_after > now() + interval '30 minutes' as due_later from pgboss.job where id = ${turnDeferred.jobId}`,
  );
  expect(job).toEqual({ state: 'created', due_later: true });
});

it('a reset also wakes a run deferred for its turn behind a run the breaker deferred: that run is due now', async () => {
  const { t, boss } = p;
  const ahead = await runNow(t.db, boss, { integration: 'ledger-ops', triggeredBy: 'test' });
  const retrying = await waitFor(
    'the first ledger-ops run to wait for its retry',
    async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, ahead.runId));
      return row.status === 'retrying' ? row : undefined;
    },
    10_000,
  );
  // Its retry comes due with the breaker open: the runner defers it to the breaker's time.
  await openBreaker(t.db, { key: 'ledger', by: 'lead@example.com', until: new Date(Date.now() + 60 * 60_000), boss });
  await t.db.update(runs).set({ nextAttemptAt: new Date() }).where(eq(runs.id, ahead.runId));
  await t.db.execute(sql`update pgboss.job set start_after = now() where id = ${retrying.jobId}`);
  const byBreaker = await deferredAnHour(ahead.runId);

  // A later run delivered meanwhile waits for its turn behind it, to the same time.
  const { behind, turnDeferred } = await deferredForItsTurn('ledger-ops', 'corr-behind-ops');
  expect(turnDeferred.nextAttemptAt!.getTime()).toBe(byBreaker.nextAttemptAt!.getTime());

  // The reset wakes the run ahead (its last attempt fails: the run fails), and the one behind it
  // then gets its turn, not an hour later.
  await resetBreaker(t.db, { key: 'ledger', by: 'oscar@example.com', boss });
  await waitFor(
    'the run behind to start once the run ahead has ended',
    async () => {
      const rows = await t.db
        .select()
        .from(runs)
        .where(inArray(runs.id, [ahead.runId, behind.id]));
      const first = rows.find((r) => r.id === ahead.runId)!;
      const second = rows.find((r) => r.id === behind.id)!;
      return first.status === 'failed' && second.startedAt !== null ? true : undefined;
    },
    10_000,
  );
});

it('a reset also wakes a run the breaker deferred before its jobs were marked, and not a run waiting out a retry delay', async () => {
  const { t, boss } = p;
  // A run of ledger-retry failed (transient) and waits an hour for its retry: not the breaker's wait.
  const retried = await runNow(t.db, boss, { integration: 'ledger-retry', triggeredBy: 'test' });
  const retrying = await waitFor(
    'the ledger-retry run to wait for its retry',
    async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, retried.runId));
      return row.status === 'retrying' && row.nextAttemptAt ? row : undefined;
    },
    10_000,
  );
  // A later ledger-retry run, which an open breaker deferred once (its last attempt says so), is
  // now deferred for its turn behind the retrying run: its job is not the breaker deferral's.
  const { behind, turnDeferred } = await deferredForItsTurn('ledger-retry', 'corr-behind-retry', { breakerDeferredBefore: true });
  expect(turnDeferred.nextAttemptAt!.getTime()).toBe(retrying.nextAttemptAt!.getTime());

  // A run deferred by the open breaker, its job made before the runner marked such jobs: the same
  // job with no deferredBy (a database upgraded with it queued).
  await openBreaker(t.db, { key: 'ledger', by: 'lead@example.com', until: new Date(Date.now() + 60 * 60_000), boss });
  const legacy = await runNow(t.db, boss, { integration: 'ledger-legacy', triggeredBy: 'test' });
  const deferred = await deferredAnHour(legacy.runId);
  const [stripped] = await t.db.execute<{ data: unknown }>(
    sql`update pgboss.job set data = data - 'deferredBy' where id = ${deferred.jobId} and data->>'deferredBy' = 'breaker' returning data`,
  );
  expect(stripped.data).toEqual({ runId: legacy.runId });

  await resetBreaker(t.db, { key: 'ledger', by: 'oscar@example.com', boss });
  await waitFor(
    'the run deferred by the breaker before the mark to succeed',
    async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, legacy.runId));
      return row.status === 'succeeded';
    },
    10_000,
  );
  expect(calls.filter((c) => c === 'ledger-legacy')).toEqual(['ledger-legacy']);

  // Neither the retry delay nor the turn wait is brought forward: same job, still due in an hour.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const after = await t.db
    .select()
    .from(runs)
    .where(inArray(runs.id, [retried.runId, behind.id]));
  const retryAfter = after.find((r) => r.id === retried.runId)!;
  const behindAfter = after.find((r) => r.id === behind.id)!;
  expect(retryAfter).toMatchObject({ status: 'retrying', jobId: retrying.jobId, nextAttemptAt: retrying.nextAttemptAt });
  expect(behindAfter).toMatchObject({ status: 'deferred', jobId: turnDeferred.jobId, nextAttemptAt: turnDeferred.nextAttemptAt });
  const jobs = await t.db.execute<{ id: string; state: string; due_later: boolean }>(
    sql`select id, state, start_after > now() + interval '30 minutes' as due_later from pgboss.job
         where id in (${retrying.jobId}, ${turnDeferred.jobId}) order by id`,
  );
  expect(jobs.map(({ state, due_later }) => ({ state, due_later }))).toEqual([
    { state: 'created', due_later: true },
    { state: 'created', due_later: true },
  ]);
  expect(calls.filter((c) => c === 'ledger-retry')).toEqual(['ledger-retry']);
});
