import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptLogs, attempts, integrations, runs } from '../../db/schema';
import { freshDatabase, type TestDatabase } from '../../test/db';
import { createAttemptLog } from './log';

let t: TestDatabase;
let attemptId: string;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values({ name: 'logger', breakerKey: 'logger' });
  const [run] = await t.db.insert(runs).values({ integration: 'logger', trigger: 'manual', triggeredBy: 'x', correlationId: 'c', maxAttempts: 1 }).returning();
  const [attempt] = await t.db.insert(attempts).values({ runId: run.id, number: 1 }).returning();
  attemptId = attempt.id;
});
afterAll(() => t.drop());

describe('attempt log', () => {
  it('stores every line of a hot loop in order, with level and data, once closed', async () => {
    const log = createAttemptLog(t.db, { attemptId, flushMs: 1_000, maxBatch: 250 });
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
});
