import { eq, inArray, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bulkOperations, integrations, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startTestBoss } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { AppError } from '../errors';
import { countRetryableRuns } from '../read-models/run-queries';
import { buildRegistry, syncRegistry } from '../registry';
import { BULK_LIMIT, retryRuns } from './bulk';
import { retryRun } from './triggers';

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

let t: TestDatabase;
let boss: PgBoss;
beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  await syncRegistry(t.db, { registry: buildRegistry(['outage', 'capped', 'halted', 'refused', 'raced', 'window'].map(def)) });
  await t.db.insert(integrations).values({ name: 'ghost', description: 'Handler removed', breakerKey: 'ghost', registered: false });
});
afterAll(async () => {
  await boss.stop({ graceful: false });
  await t.drop();
});

const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000);
type Seed = {
  integration: string;
  createdAt: Date;
  status?: 'failed' | 'cancelled' | 'succeeded';
  trigger?: 'manual' | 'schedule';
  dryRun?: boolean;
  retriedAt?: Date;
};
async function seed(rows: Seed[]): Promise<string[]> {
  const inserted = await t.db
    .insert(runs)
    .values(
      rows.map((r) => ({
        integration: r.integration,
        trigger: r.trigger ?? ('schedule' as const),
        triggeredBy: 'x',
        correlationId: 'c',
        maxAttempts: 2,
        status: r.status ?? ('failed' as const),
        dryRun: r.dryRun ?? false,
        createdAt: r.createdAt,
        retriedAt: r.retriedAt ?? null,
      })),
    )
    .returning({ id: runs.id });
  return inserted.map((r) => r.id);
}
const bulkCount = async () => (await t.db.select({ n: sql<number>`count(*)::int` }).from(bulkOperations))[0].n;
const retriedIds = async (bulkOperationId: string) =>
  (await t.db.select().from(bulkOperations).where(eq(bulkOperations.id, bulkOperationId)))[0].retriedRunIds;

describe('bulk retry by the Runs list filter', () => {
  it('takes exactly the failed, not-retried runs matching trigger, time range and dry-run, oldest first, as the count says', async () => {
    const from = ago(60);
    const to = ago(20);
    // Matching: failed schedule real runs inside [from, to], inserted newest first.
    const matching = await seed([30, 40, 50].map((m) => ({ integration: 'outage', createdAt: ago(m) })));
    await seed([
      { integration: 'outage', createdAt: ago(35), trigger: 'manual' },
      { integration: 'outage', createdAt: ago(36), dryRun: true },
      { integration: 'outage', createdAt: ago(90) }, // before from
      { integration: 'outage', createdAt: ago(10) }, // after to
      { integration: 'outage', createdAt: ago(37), status: 'succeeded' },
      { integration: 'outage', createdAt: ago(38), status: 'cancelled' },
      { integration: 'outage', createdAt: ago(39), retriedAt: ago(5) },
    ]);
    const filter = { integration: 'outage', status: 'failed' as const, trigger: 'schedule' as const, dryRun: 'exclude' as const, from, to };
    expect(await countRetryableRuns(t.db, filter, BULK_LIMIT + 1)).toBe(3);

    const result = await retryRuns(t.db, boss, {
      filter: { ...filter, from: from.toISOString(), to: to.toISOString() },
      triggeredBy: 'op',
    });
    expect(result.runIds).toHaveLength(3);
    expect(await retriedIds(result.bulkOperationId!)).toEqual([...matching].reverse());
    const originals = await t.db.select().from(runs).where(inArray(runs.id, matching));
    expect(originals.every((r) => r.retriedAt !== null)).toBe(true);
    expect(await countRetryableRuns(t.db, filter, BULK_LIMIT + 1)).toBe(0);
  });

  it('leaves out runs of integrations no longer registered', async () => {
    const window = { from: ago(300), to: ago(280) };
    const [kept] = await seed([{ integration: 'window', createdAt: ago(290) }]);
    await seed([{ integration: 'ghost', createdAt: ago(291) }]);
    const filter = { status: 'failed' as const, ...window };
    expect(await countRetryableRuns(t.db, filter, BULK_LIMIT + 1)).toBe(1);
    const result = await retryRuns(t.db, boss, { filter, triggeredBy: 'op' });
    expect(await retriedIds(result.bulkOperationId!)).toEqual([kept]);
  });

  it('takes at most BULK_LIMIT, the oldest, and the count says "more than" up to its cap', async () => {
    const ids = await seed(
      Array.from({ length: BULK_LIMIT + 3 }, (_, i) => ({ integration: 'capped', createdAt: new Date(Date.now() - (i + 1) * 1000) })),
    );
    const filter = { integration: 'capped', status: 'failed' as const };
    expect(await countRetryableRuns(t.db, filter, BULK_LIMIT + 1)).toBe(BULK_LIMIT + 1);
    const result = await retryRuns(t.db, boss, { filter, triggeredBy: 'op' });
    expect(result.runIds).toHaveLength(BULK_LIMIT);
    // ids[i] is i + 1 seconds old: the oldest 500 are the last 500 inserted, oldest first.
    expect(await retriedIds(result.bulkOperationId!)).toEqual(ids.slice(3).reverse());
    expect(await countRetryableRuns(t.db, filter, BULK_LIMIT + 1)).toBe(3);
  });

  it('retries cancelled runs when the filter says cancelled', async () => {
    const cancelled = await seed([
      { integration: 'halted', createdAt: ago(12), status: 'cancelled' },
      { integration: 'halted', createdAt: ago(11), status: 'cancelled', trigger: 'manual' },
    ]);
    await seed([{ integration: 'halted', createdAt: ago(13) }]);
    const filter = { integration: 'halted', status: 'cancelled' as const };
    expect(await countRetryableRuns(t.db, filter, BULK_LIMIT + 1)).toBe(2);
    const result = await retryRuns(t.db, boss, { filter, triggeredBy: 'op' });
    expect(await retriedIds(result.bulkOperationId!)).toEqual(cancelled);
  });

  it('refuses a filter without status failed or cancelled, and writes nothing', async () => {
    await seed([
      { integration: 'refused', createdAt: ago(8), status: 'succeeded' },
      { integration: 'refused', createdAt: ago(7) },
    ]);
    const before = await bulkCount();
    for (const filter of [
      { integration: 'refused', status: 'succeeded' },
      { integration: 'refused', status: 'active' },
      { integration: 'refused', trigger: 'schedule' },
    ]) {
      const refused = retryRuns(t.db, boss, { filter, triggeredBy: 'op' });
      await expect(refused).rejects.toBeInstanceOf(AppError);
      await expect(refused).rejects.toThrow(/status failed or cancelled/);
    }
    await expect(retryRuns(t.db, boss, { filter: { status: 'failed', from: ago(1), to: ago(2) }, triggeredBy: 'op' })).rejects.toThrow(
      /reversed/,
    );
    await expect(retryRuns(t.db, boss, { filter: { integration: 'nope', status: 'failed' }, triggeredBy: 'op' })).rejects.toThrow(
      /does not exist/,
    );
    await expect(retryRuns(t.db, boss, { filter: { integration: 'crm\u0000', status: 'failed' }, triggeredBy: 'op' })).rejects.toThrow(
      /NUL/,
    );
    expect(await bulkCount()).toBe(before);
    const rows = await t.db.select().from(runs).where(eq(runs.integration, 'refused'));
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.retriedAt === null)).toBe(true);
  });

  it('skips runs retried meanwhile: retried already, or locked by a retry under way', async () => {
    const [retried, locked, taken] = await seed([
      { integration: 'raced', createdAt: ago(6) },
      { integration: 'raced', createdAt: ago(5) },
      { integration: 'raced', createdAt: ago(4) },
    ]);
    await retryRun(t.db, boss, { runId: retried, triggeredBy: 'someone' });
    const filter = { integration: 'raced', status: 'failed' as const, trigger: 'schedule' as const };
    expect(await countRetryableRuns(t.db, filter, BULK_LIMIT + 1)).toBe(2);
    const result = await t.db.transaction(async (tx) => {
      await tx.execute(sql`select id from runs where id = ${locked}::uuid for update`);
      return retryRuns(t.db, boss, { filter, triggeredBy: 'op' });
    });
    expect(await retriedIds(result.bulkOperationId!)).toEqual([taken]);
    expect(await countRetryableRuns(t.db, filter, BULK_LIMIT + 1)).toBe(1);
  });
});
