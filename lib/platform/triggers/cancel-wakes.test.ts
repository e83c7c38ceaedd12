import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { runs } from '../../../db/schema';
import { startTestPlatform, waitFor, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { RUNS_QUEUE, sendRunJob } from '../execution/queue';
import { insertRun, loadIntegration } from '../execution/run-create';
import { cancelRun, runNow } from './triggers';

/**
 * Runs of one integration take turns: a run queued behind one that waits for its next attempt is
 * deferred to that attempt's time. Cancelling the waiting run must let the runs behind it start
 * now, not at the time the cancelled run would have tried again (an hour, here).
 */

const defs = ['turns', 'turns-started-wake', 'turns-first', 'turns-started', 'turns-self'].map((name) =>
  defineIntegration({
    name,
    description: 'No-op',
    settings: z.object({}),
    async execute() {
      return { ok: true };
    },
  }),
) as IntegrationDefinition[];

let p: TestPlatform;
beforeAll(async () => {
  p = await startTestPlatform(defs, { workerId: 'cancel-wakes' });
});
afterAll(async () => {
  await p?.stop();
});

const runRow = async (id: string) => (await p.t.db.select().from(runs).where(eq(runs.id, id)))[0];

/** Waits for the run behind the cancelled one to succeed (it would wait an hour if not woken). */
async function succeedsOnceCancelIsDone(runId: string) {
  const done = await waitFor(
    'the later run to succeed once the run it waited for is cancelled',
    async () => {
      const row = await runRow(runId);
      return row.status === 'succeeded' ? row : undefined;
    },
    10_000,
  );
  expect(done.status).toBe('succeeded');
}

it('cancelling a run that waits for its next attempt starts the runs deferred behind it now', async () => {
  const { t, boss } = p;
  const waiting = await startedRunWaitingAnHour('turns');
  const { runId } = await runNow(t.db, boss, { integration: 'turns', triggeredBy: 'test' });
  // The worker defers it to the waiting run's next attempt.
  await waitFor(
    'the new run to be deferred behind the waiting one',
    async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, runId));
      return row.nextAttemptAt && row.nextAttemptAt.getTime() > Date.now() + 30 * 60_000 ? row : undefined;
    },
    10_000,
  );

  await cancelRun(t.db, boss, { runId: waiting.id, by: 'test' });
  await succeedsOnceCancelIsDone(runId);
});

/** A run of `integration` that has started and waits an hour for its next attempt (its job already gone). */
async function startedRunWaitingAnHour(integration: string) {
  const [row] = await p.t.db
    .insert(runs)
    .values({
      integration,
      trigger: 'manual',
      status: 'retrying',
      triggeredBy: 'test',
      correlationId: 'waiting',
      attemptCount: 1,
      maxAttempts: 4,
      nextAttemptAt: sql`now() + interval '1 hour'`,
      startedAt: sql`now()`,
      createdAt: sql`now() - interval '1 second'`,
    })
    .returning();
  return row;
}

/** A later run of `integration` that has started and whose next attempt is due now (its job sent). */
async function startedRunDueNow(integration: string): Promise<string> {
  return p.t.db.transaction(async (tx) => {
    const jobId = randomUUID();
    const [row] = await tx
      .insert(runs)
      .values({
        integration,
        trigger: 'manual',
        status: 'retrying',
        triggeredBy: 'test',
        correlationId: 'later',
        attemptCount: 1,
        maxAttempts: 4,
        startedAt: sql`now()`,
        jobId,
      })
      .returning();
    await sendRunJob(p.boss, tx, { runId: row.id, jobId, integration });
    return row.id;
  });
}

/** cancelRun in a transaction left open until `commit()`; `applied` once its statements ran. */
function cancelHeldOpen(runId: string) {
  const applied = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  const done = p.t.db.transaction(async (tx) => {
    await cancelRun(tx, p.boss, { runId, by: 'test' });
    applied.resolve();
    await gate.promise;
  });
  done.catch((error: unknown) => applied.reject(error));
  return {
    applied: applied.promise,
    async commit() {
      gate.resolve();
      await done;
    },
  };
}

/** The backend (pid and transaction start) of a session waiting for a row lock in a statement like `query`, if any. */
async function waitingForALock(query: string) {
  const [row] = await p.t.db.execute<{ pid: number; xact_start: string }>(sql`
    select pid, xact_start::text from pg_stat_activity
     where datname = current_database() and wait_event_type = 'Lock' and query ilike ${query}`);
  return row;
}

it('cancelling a run that waits for its next attempt also starts a started run deferred behind it now', async () => {
  const integration = 'turns-started-wake';
  const waiting = await startedRunWaitingAnHour(integration);
  const later = await startedRunDueNow(integration);
  await waitFor(
    'the later run to be deferred behind the waiting one',
    async () => {
      const row = await runRow(later);
      return row.nextAttemptAt && row.nextAttemptAt.getTime() > Date.now() + 30 * 60_000 ? row : undefined;
    },
    10_000,
  );
  await cancelRun(p.t.db, p.boss, { runId: waiting.id, by: 'test' });
  await succeedsOnceCancelIsDone(later);
});

/**
 * The runner reads the run it must wait for without a lock. A cancel that commits between that
 * read and the deferral's commit runs its wake-up (above) before the deferral is written: the run
 * would then be deferred to the cancelled run's old next attempt (an hour) after all. Here the
 * cancel is held open, uncommitted, while the worker handles the later run's job, and committed
 * once the worker has deferred that run or waits for the cancel.
 */

it.each([
  ['its first start', 'turns-first'],
  ['its next attempt (it has started)', 'turns-started'],
])(
  'a run deferred for %s while the cancel of the run it waits for commits starts once the cancel commits',
  async (_, integration) => {
    const { t, boss } = p;
    const waiting = await startedRunWaitingAnHour(integration);
    const cancel = cancelHeldOpen(waiting.id);
    await cancel.applied;
    // The later run, written while the cancel is open (runNow's audit row would wait for the cancel's).
    const later =
      integration === 'turns-first'
        ? await t.db.transaction(async (tx) =>
            insertRun(tx, boss, {
              integration: await loadIntegration(tx, integration),
              trigger: 'manual',
              triggeredBy: 'test',
              dryRun: false,
            }),
          )
        : await startedRunDueNow(integration);
    await waitFor(
      'the worker to defer the later run, or to wait for the cancel to commit',
      async () => {
        if (await waitingForALock('%for share%')) return true;
        const row = await runRow(later);
        return row.nextAttemptAt !== null && row.nextAttemptAt.getTime() > Date.now() + 30 * 60_000;
      },
      10_000,
    );
    await cancel.commit();
    await succeedsOnceCancelIsDone(later);
  },
  30_000,
);

/**
 * The deferral rewrites the run it read without a lock, fenced on its job only: a cancel of that
 * run committed in between (which keeps the run's job id) was overwritten, and the cancelled run
 * queued again. Here its row is locked until the worker's deferral waits for it, then cancelled.
 */
it('a run cancelled while the worker defers it stays cancelled', async () => {
  const { t, boss } = p;
  const integration = 'turns-self';
  await startedRunWaitingAnHour(integration);
  const later = await t.db.transaction(async (tx) =>
    insertRun(tx, boss, { integration: await loadIntegration(tx, integration), trigger: 'manual', triggeredBy: 'test', dryRun: false }),
  );
  // Its row locked: the worker reads it, and its deferral waits for the lock to write it.
  const locked = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  const cancelling = t.db.transaction(async (tx) => {
    await tx.select().from(runs).where(eq(runs.id, later)).for('update');
    locked.resolve();
    await gate.promise;
    // The operator cancels it then, and commits.
    await cancelRun(tx, boss, { runId: later, by: 'test' });
  });
  cancelling.catch((error: unknown) => locked.reject(error));
  await locked.promise;
  const deferral = await waitFor('the worker to wait for the run row to defer it', () => waitingForALock('update "runs"%'), 10_000);
  gate.resolve();
  await cancelling;
  await waitFor(
    "the worker's deferral to end",
    async () => {
      const [row] = await t.db.execute<{ xact_start: string | null }>(
        sql`select xact_start::text from pg_stat_activity where pid = ${deferral.pid}`,
      );
      return !row || row.xact_start !== deferral.xact_start;
    },
    10_000,
  );
  const row = await runRow(later);
  expect(row.status).toBe('cancelled');
  const [jobs] = await t.db.execute<{ n: number }>(
    sql`select count(*)::int as n from pgboss.job where name = ${RUNS_QUEUE} and data->>'runId' = ${later} and state = 'created'`,
  );
  expect(jobs.n, 'a job left to run the cancelled run').toBe(0);
});
