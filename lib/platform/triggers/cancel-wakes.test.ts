import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { runs } from '../../../db/schema';
import { startTestPlatform, waitFor, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { cancelRun, runNow } from './triggers';

/**
 * Runs of one integration take turns: a run queued behind one that waits for its next attempt is
 * deferred to that attempt's time. Cancelling the waiting run must let the runs behind it start
 * now, not at the time the cancelled run would have tried again (an hour, here).
 */

const defs = [
  defineIntegration({
    name: 'turns',
    description: 'No-op',
    settings: z.object({}),
    async execute() {
      return { ok: true };
    },
  }),
] as IntegrationDefinition[];

let p: TestPlatform;
beforeAll(async () => {
  p = await startTestPlatform(defs, { workerId: 'cancel-wakes' });
});
afterAll(async () => {
  await p?.stop();
});

it('cancelling a run that waits for its next attempt starts the runs deferred behind it now', async () => {
  const { t, boss } = p;
  // A run that has started and waits an hour for its next attempt (its job already gone).
  const [waiting] = await t.db
    .insert(runs)
    .values({
      integration: 'turns',
      trigger: 'manual',
      status: 'retrying',
      triggeredBy: 'test',
      correlationId: 'waiting',
      attemptCount: 1,
      maxAttempts: 4,
      nextAttemptAt: sql`now() + interval '1 hour'`,
      startedAt: sql`now()`,
    })
    .returning();
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
  const done = await waitFor(
    'the deferred run to succeed once the run it waited for is cancelled',
    async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.id, runId));
      return row.status === 'succeeded' ? row : undefined;
    },
    10_000,
  );
  expect(done.status).toBe('succeeded');
});
