import { inArray, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { bulkOperations, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startTestBoss, waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { buildRegistry, syncRegistry } from '../registry';
import { cancelBulkOperation } from './bulk';

/**
 * A worker deferring a run behind an earlier one (runner.ts: its turn) holds a share lock on the
 * earlier run and then updates the later one. A bulk cancel of both must take their locks in the
 * same order (earlier first), else the two deadlock and PostgreSQL aborts one of them: the
 * operator's cancel answered "deadlock detected", or the worker's deferral thrown away.
 */

const def = defineIntegration({
  name: 'orders',
  description: 'No-op',
  settings: z.object({}),
  async execute() {
    return {};
  },
}) as IntegrationDefinition;

let t: TestDatabase;
let boss: PgBoss;
let other: postgres.Sql;
beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  await syncRegistry(t.db, { registry: buildRegistry([def]) });
  other = postgres(t.url, { max: 1, onnotice: () => {}, connection: { application_name: 'deferring-worker' } });
});
afterAll(async () => {
  await other?.end();
  await boss?.stop({ graceful: false });
  await t?.drop();
});

it('a bulk cancel and a turn deferral of its runs take their locks in one order: neither is aborted', async () => {
  const [op] = await t.db
    .insert(bulkOperations)
    .values({ createdBy: 'op', runIds: [], retriedRunIds: [], total: 2, paceRuns: 10, pacePeriodMs: 1_000 })
    .returning();
  const queued = (createdAt: ReturnType<typeof sql>) => ({
    integration: 'orders',
    trigger: 'manual' as const,
    triggeredBy: 'op',
    correlationId: 'c',
    maxAttempts: 2,
    status: 'queued' as const,
    bulkOperationId: op.id,
    createdAt,
  });
  // The later run is written first, so a scan of the table meets it before the earlier one.
  const [later] = await t.db
    .insert(runs)
    .values(queued(sql`now()`))
    .returning();
  const [earlier] = await t.db
    .insert(runs)
    .values(queued(sql`now() - interval '1 second'`))
    .returning();

  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const shareLocked = new Promise<void>((resolve) => (locked = resolve));
  // The worker's deferral: share-lock the run waited for, then (after the cancel queued up) re-queue the later one.
  const deferral = other.begin(async (tx) => {
    await tx`select id from runs where id = ${earlier.id} for share`;
    locked();
    await released;
    await tx`update runs set next_attempt_at = now() + interval '1 second' where id = ${later.id}`;
  });
  await shareLocked;
  const cancel = cancelBulkOperation(t.db, boss, { id: op.id, by: 'op@example.com' });
  await waitFor(
    'the bulk cancel to wait for the deferral’s lock',
    async () => {
      const [row] = await t.db.execute<{ n: number }>(
        sql`select count(*)::int as n from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock' and application_name <> 'deferring-worker'`,
      );
      return row.n > 0 ? true : undefined;
    },
    10_000,
  );
  release();
  const [deferred, cancelled] = await Promise.allSettled([deferral, cancel]);
  expect(deferred.status === 'rejected' ? String(deferred.reason) : 'committed').toBe('committed');
  expect(cancelled.status === 'fulfilled' ? cancelled.value : String(cancelled.reason)).toEqual({ cancelled: 2 });
  const rows = await t.db
    .select({ status: runs.status })
    .from(runs)
    .where(inArray(runs.id, [earlier.id, later.id]));
  expect(rows.map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
});
