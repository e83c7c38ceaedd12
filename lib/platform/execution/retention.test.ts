import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptLogs, attempts, auditLog, integrations, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { pruneRuns } from './retention';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

describe('retention', () => {
  it('prunes finished runs older than the period with their attempts and logs, keeps active runs and the audit trail', async () => {
    await t.db.insert(integrations).values({ name: 'x', breakerKey: 'x' });
    const old = new Date(Date.now() - 40 * 86_400_000);
    const base = {
      integration: 'x',
      trigger: 'schedule' as const,
      triggeredBy: 'schedule',
      correlationId: 'c',
      maxAttempts: 1,
      createdAt: old,
    };
    const inserted = await t.db
      .insert(runs)
      .values([
        ...Array.from({ length: 25 }, () => ({ ...base, status: 'succeeded' as const })),
        { ...base, status: 'retrying' as const },
        { ...base, status: 'failed' as const, createdAt: new Date() },
      ])
      .returning({ id: runs.id });
    const [attempt] = await t.db.insert(attempts).values({ runId: inserted[0].id, number: 1, outcome: 'succeeded' }).returning();
    await t.db.insert(attemptLogs).values({ attemptId: attempt.id, level: 'info', message: 'old' });
    await t.db
      .insert(auditLog)
      .values({ changedBy: 'a', kind: 'action', integration: 'x', fieldName: 'run_now', correlationId: 'c', changedAt: old });

    const { deleted } = await pruneRuns(t.db, { olderThan: new Date(Date.now() - 30 * 86_400_000), batchSize: 10 });
    expect(deleted).toBe(25);
    const [left] = await t.db.execute<{ runs: number; attempts: number; logs: number; audit: number }>(sql`
      select (select count(*)::int from runs) as runs, (select count(*)::int from attempts) as attempts,
             (select count(*)::int from attempt_logs) as logs, (select count(*)::int from audit_log) as audit`);
    expect(left).toEqual({ runs: 2, attempts: 0, logs: 0, audit: 1 });
  });
});
