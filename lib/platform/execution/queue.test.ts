import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { createBoss } from './boss';
import { bossDb, ensurePlatformQueues, RUNS_QUEUE, sendRunJob } from './queue';

/**
 * bossDb: pg-boss's statements on the caller's transaction, prepared on its connection (issue 18:
 * parsed and planned anew, they cost ~0.7 ms of the database's time per job sent).
 */

let t: TestDatabase;
let boss: PgBoss;
beforeAll(async () => {
  t = await freshDatabase();
  boss = createBoss(t.url, { max: 2 });
  await boss.start();
  await ensurePlatformQueues(boss);
});
afterAll(async () => {
  await boss.stop({ graceful: false });
  await t.drop();
});

async function jobState(id: string): Promise<string | undefined> {
  const [row] = await t.db.execute<{ state: string }>(sql`select state from pgboss.job where id = ${id}`);
  return row?.state;
}

describe('pg-boss on the caller transaction', () => {
  it('commits a job with the transaction, and a rolled-back one leaves none', async () => {
    const kept = randomUUID();
    const dropped = randomUUID();
    await t.db.transaction(async (tx) => {
      await sendRunJob(boss, tx, { runId: randomUUID(), jobId: kept, integration: 'kept' });
      // Not visible outside the transaction until it commits.
      expect(await jobState(kept)).toBeUndefined();
    });
    await expect(
      t.db.transaction(async (tx) => {
        await sendRunJob(boss, tx, { runId: randomUUID(), jobId: dropped, integration: 'dropped' });
        throw new Error('the caller failed');
      }),
    ).rejects.toThrow('the caller failed');
    expect(await jobState(kept)).toBe('created');
    expect(await jobState(dropped)).toBeUndefined();
  });

  it('prepares each statement once per connection, whatever the number of ids it carries', async () => {
    const ids = Array.from({ length: 5 }, () => randomUUID());
    await t.db.transaction(async (tx) => {
      for (const [i, id] of ids.entries()) await sendRunJob(boss, tx, { runId: randomUUID(), jobId: id, integration: `key-${i}` });
      // Arrays as literals: one cancel of two ids and one of three share a statement.
      await boss.cancel(RUNS_QUEUE, ids.slice(0, 2), { db: bossDb(tx) });
      await boss.cancel(RUNS_QUEUE, ids.slice(2), { db: bossDb(tx) });
      const prepared = await tx.execute<{ statement: string }>(
        sql`select statement from pg_prepared_statements where statement ilike '%pgboss%'`,
      );
      const inserts = prepared.filter((p) => /insert into pgboss\.job/i.test(p.statement));
      const cancels = prepared.filter((p) => /state\s*=\s*'cancelled'/i.test(p.statement));
      expect({ inserts: inserts.length, cancels: cancels.length }).toEqual({ inserts: 1, cancels: 1 });
    });
    for (const id of ids) expect(await jobState(id)).toBe('cancelled');
  });
});
