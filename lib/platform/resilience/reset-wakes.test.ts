import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { runs } from '../../../db/schema';
import { startTestPlatform, waitFor, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { runNow } from '../triggers/triggers';
import { openBreaker, resetBreaker } from './breaker';

/**
 * Runs deferred by an open breaker wait for its half-open time (or, held open by an operator, look
 * again every cooldown). An operator who resets the breaker means "send now": the runs it deferred,
 * of every integration sharing it, start at once instead of at the time they were deferred to.
 */

const calls: string[] = [];
const defs = ['ledger-export', 'ledger-import', 'elsewhere'].map((name) =>
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
) as IntegrationDefinition[];

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

it('a reset of a breaker that was closed wakes nothing', async () => {
  const { t, boss } = p;
  const before = await t.db.select({ id: runs.id, nextAttemptAt: runs.nextAttemptAt }).from(runs).where(eq(runs.integration, 'elsewhere'));
  await resetBreaker(t.db, { key: 'ledger', by: 'oscar@example.com', boss });
  const after = await t.db.select({ id: runs.id, nextAttemptAt: runs.nextAttemptAt }).from(runs).where(eq(runs.integration, 'elsewhere'));
  expect(after).toEqual(before);
});
