import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptLogs, attempts, integrations, runs } from '../../db/schema';
import { freshDatabase, type TestDatabase } from '../../test/db';
import { createAttemptLog } from './log';

let t: TestDatabase;
let attemptId: string;
let runCreatedAt: Date;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values({ name: 'logger', breakerKey: 'logger' });
  const [run] = await t.db
    .insert(runs)
    .values({ integration: 'logger', trigger: 'manual', triggeredBy: 'x', correlationId: 'c', maxAttempts: 1 })
    .returning();
  runCreatedAt = run.createdAt;
  const [attempt] = await t.db.insert(attempts).values({ runId: run.id, runCreatedAt, number: 1 }).returning();
  attemptId = attempt.id;
});
afterAll(() => t.drop());

describe('attempt log', () => {
  it('stores every line of a hot loop in order, with level and data, once closed', async () => {
    const log = createAttemptLog(t.db, { attemptId, runCreatedAt, flushMs: 1_000, maxBatch: 250 });
    const started = Date.now();
    for (let i = 0; i < 1_000; i++) log.info(`record ${i}`, { i });
    // Logging does not wait on the database: a thousand lines are buffered at once.
    expect(Date.now() - started).toBeLessThan(200);
    log.error('boom', new Error('bad record'));
    await log.close();
    log.warn('after close is dropped');
    const rows = await t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, attemptId)).orderBy(asc(attemptLogs.id));
    expect(rows).toHaveLength(1_001);
    expect(rows[0]).toMatchObject({ level: 'info', message: 'record 0', data: { i: 0 } });
    expect(rows[999].message).toBe('record 999');
    expect(rows[1000]).toMatchObject({ level: 'error', message: 'boom', data: { name: 'Error', message: 'bad record' } });
  });

  it('keeps the last lines when the final write fails once: close tries again', async () => {
    const [attempt] = await t.db
      .insert(attempts)
      .values({ runId: (await t.db.select().from(runs))[0].id, runCreatedAt, number: 2 })
      .returning();
    // A real failure in PostgreSQL: the first insert into attempt_logs after this raises.
    await t.db.execute(sql`create sequence log_fail_seq`);
    await t.db.execute(
      sql.raw(`
      create function fail_first_log_insert() returns trigger language plpgsql as $$
      begin
        if nextval('log_fail_seq') = 1 then raise exception 'injected: attempt_logs is unavailable'; end if;
        return null;
      end $$`),
    );
    await t.db.execute(
      sql`create trigger fail_first_log_insert before insert on attempt_logs for each statement execute function fail_first_log_insert()`,
    );
    try {
      const log = createAttemptLog(t.db, { attemptId: attempt.id, runCreatedAt, flushMs: 60_000 });
      log.info('batch 7: booked 100');
      log.error('attempt 2 failed: the accounting API answered 503');
      await log.close();
      const rows = await t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, attempt.id)).orderBy(asc(attemptLogs.id));
      expect(rows.map((r) => [r.level, r.message])).toEqual([
        ['info', 'batch 7: booked 100'],
        ['error', 'attempt 2 failed: the accounting API answered 503'],
      ]);
      // The trigger did fail one insert (so the lines above were written by the retry).
      expect((await t.db.execute<{ n: string }>(sql`select last_value as n from log_fail_seq`))[0].n).toBe('2');
    } finally {
      await t.db.execute(sql`drop trigger fail_first_log_insert on attempt_logs`);
      await t.db.execute(sql`drop function fail_first_log_insert()`);
      await t.db.execute(sql`drop sequence log_fail_seq`);
    }
  });
});
