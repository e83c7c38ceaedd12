import { randomUUID } from 'node:crypto';
import { and, asc, eq, gte, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import * as schema from '../../../db/schema';
import { attempts, integrations, runs, type Run } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { ensureRunPartitions } from '../execution/retention';
import { createAttemptLog, readAttemptLogs, writeLogLines, type LogLevel, type LogLine } from '../log';
import { getRunDetail, type RunDetail } from './run-queries';

/**
 * getRunDetail before it became one statement (issue 18): four round trips, the run by id, its
 * attempts, their logs and its retries. The one statement must return exactly what this returns.
 */
async function runDetailFourQueries(db: DatabaseOrTransaction, params: { id: string; logLimit?: number }): Promise<RunDetail | null> {
  if (!z.string().uuid().safeParse(params.id).success) return null;
  const [run] = await db.select().from(runs).where(eq(runs.id, params.id));
  if (!run) return null;
  const attemptRows = await db
    .select()
    .from(attempts)
    .where(and(eq(attempts.runId, run.id), eq(attempts.runCreatedAt, run.createdAt)))
    .orderBy(asc(attempts.number));
  const logs = await readAttemptLogs(db, {
    attemptIds: attemptRows.map((a) => a.id),
    runCreatedAt: run.createdAt,
    limit: params.logLimit ?? 2000,
  });
  const retries = await db
    .select({ id: runs.id, status: runs.status, createdAt: runs.createdAt, triggeredBy: runs.triggeredBy })
    .from(runs)
    .where(and(eq(runs.retryOf, run.id), gte(runs.createdAt, run.createdAt)))
    .orderBy(asc(runs.createdAt));
  return {
    run,
    attempts: attemptRows.map((a) => ({ ...a, logs: logs.get(a.id)?.lines ?? [], logGap: logs.get(a.id)?.gap })),
    retries,
  };
}

const MINUTE = 60_000;
const WEEK = 7 * 86_400_000;
const LEVELS: LogLevel[] = ['debug', 'info', 'warn', 'error'];

let t: TestDatabase;
/** The runs of the comparison, by what they show. */
const ids: Record<string, string> = {};

async function newRun(name: string, values: Partial<typeof runs.$inferInsert> & { createdAt: Date }): Promise<Run> {
  const [run] = await t.db
    .insert(runs)
    .values({ integration: 'alpha', trigger: 'schedule', triggeredBy: 'schedule', correlationId: `c-${name}`, maxAttempts: 3, ...values })
    .returning();
  ids[name] = run.id;
  return run;
}

async function newAttempt(run: Run, number: number, values: Partial<typeof attempts.$inferInsert> = {}): Promise<string> {
  const [attempt] = await t.db
    .insert(attempts)
    .values({ runId: run.id, runCreatedAt: run.createdAt, number, outcome: 'failed', errorMessage: `attempt ${number} failed`, ...values })
    .returning();
  return attempt.id;
}

/** `count` lines written as one row of attempt_log_batches, `spacing` ms apart, every fourth with data. */
async function logRow(run: Run, attemptId: string, label: string, count: number, spacing = 7) {
  const base = run.createdAt.getTime() + 1_000;
  const lines: LogLine[] = Array.from({ length: count }, (_, i) => ({
    level: LEVELS[i % 4],
    message: `${label} line ${i}`,
    data: i % 4 === 2 ? { i, label, nested: [1, 'two', null] } : null,
    at: new Date(base + i * spacing),
  }));
  await writeLogLines(t.db, { attemptId, runCreatedAt: run.createdAt }, lines);
}

beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values({ name: 'alpha', description: 'Alpha export', breakerKey: 'alpha' });
  const now = Date.now();
  // Weeks from six weeks back: a run in an old week, its retry in a later one.
  await ensureRunPartitions(t.db, { from: new Date(now - 6 * WEEK), weeks: 8 });

  // Three attempts (inserted out of order), their log rows interleaved: the limit counts lines
  // across attempts in the order they were written. The second attempt passed its cap.
  const busy = await newRun('busy', {
    createdAt: new Date(now - 120 * MINUTE),
    status: 'failed',
    attemptCount: 3,
    errorMessage: 'HTTP 503 from accounting',
    errorClass: 'TransientError',
    input: { since: '2026-11-30T10:00:00Z', ids: [1, 2, 3] },
    checkpoint: 'page-7',
    checkpointAt: new Date(now - 100 * MINUTE),
    progressDone: 70,
    progressTotal: 250,
    finishedAt: new Date(now - 90 * MINUTE),
  });
  // Microseconds, as now() stores them: both reads cut them the same way.
  await t.db.execute(sql`update runs set started_at = '2026-11-30 10:00:00.999999+00' where id = ${busy.id}`);
  const third = await newAttempt(busy, 3, { resumedFrom: { page: 6 } });
  const first = await newAttempt(busy, 1);
  const second = await newAttempt(busy, 2, { resumedFrom: 'page-3' });
  await logRow(busy, first, 'first', 7);
  await logRow(busy, third, 'third', 10, 0);
  const capped = createAttemptLog(t.db, {
    attemptId: second,
    runCreatedAt: busy.createdAt,
    flushMs: 60_000,
    maxBatch: 50,
    maxLines: 100,
    keepLast: 20,
  });
  for (let i = 0; i < 1_000; i++) {
    if (i % 100 === 99) capped.warn(`second slow batch ${i}`, { i });
    else capped.info(`second record ${i}`);
  }
  capped.error('second attempt failed: the API answered 503');
  await capped.close();
  await logRow(busy, first, 'first again', 2);
  await logRow(busy, third, 'third again', 10);
  // Retries: two after it (one a retry of the retry); a row that claims to retry it from before it is not one.
  const retry = await newRun('retry', { createdAt: new Date(now - 60 * MINUTE), trigger: 'retry', triggeredBy: 'ada', retryOf: busy.id });
  await newRun('retry of the retry', { createdAt: new Date(now - 20 * MINUTE), trigger: 'retry', triggeredBy: 'bob', retryOf: retry.id });
  await newRun('second retry', { createdAt: new Date(now - 30 * MINUTE), trigger: 'retry', triggeredBy: 'bob', retryOf: busy.id });
  await newRun('before it', { createdAt: new Date(now - 200 * MINUTE), trigger: 'retry', triggeredBy: 'eve', retryOf: busy.id });

  // Four weeks old, retried a week later and today.
  const old = await newRun('old week', { createdAt: new Date(now - 4 * WEEK), status: 'failed', attemptCount: 2 });
  await logRow(old, await newAttempt(old, 1), 'old', 3);
  await logRow(old, await newAttempt(old, 2), 'old second', 4);
  await newRun('old retry, next week', { createdAt: new Date(now - 3 * WEEK), trigger: 'retry', triggeredBy: 'ada', retryOf: old.id });
  await newRun('old retry, today', { createdAt: new Date(now - 5 * MINUTE), trigger: 'retry', triggeredBy: 'ada', retryOf: old.id });

  // Before every weekly partition: the DEFAULT one.
  const ancient = await newRun('ancient', { createdAt: new Date(now - 400 * 86_400_000), status: 'succeeded' });
  await logRow(ancient, await newAttempt(ancient, 1, { outcome: 'succeeded', errorMessage: null }), 'ancient', 1);

  // No attempts; attempts without logs; a run that is still running.
  await newRun('no attempts', { createdAt: new Date(now - 10 * MINUTE), hold: 'pace' });
  const quiet = await newRun('no logs', {
    createdAt: new Date(now - 15 * MINUTE),
    status: 'retrying',
    nextAttemptAt: new Date(now + MINUTE),
  });
  await newAttempt(quiet, 1);
  await newAttempt(quiet, 2, { outcome: 'running', errorMessage: null, finishedAt: null });
});
afterAll(() => t.drop());

describe('run detail in one statement', () => {
  it('returns what the four queries returned, for every kind of run and log limit', async () => {
    const limits = [undefined, 0, 1, 6, 7, 8, 17, 30, 60, 99, 100, 2_000];
    for (const [name, id] of Object.entries(ids)) {
      for (const logLimit of limits) {
        const want = await runDetailFourQueries(t.db, { id, logLimit });
        expect(want, name).not.toBeNull();
        expect(await getRunDetail(t.db, { id, logLimit }), `${name}, log limit ${logLimit}`).toStrictEqual(want);
      }
    }
    expect(Object.keys(ids)).toHaveLength(11);
  });

  it('shows the attempts by number with their logs, the capped attempt its gap, and the retries from after the run', async () => {
    const detail = (await getRunDetail(t.db, { id: ids.busy }))!;
    expect(detail.run).toMatchObject({ id: ids.busy, status: 'failed', checkpoint: 'page-7', input: { ids: [1, 2, 3] }, progressDone: 70 });
    expect(detail.run.startedAt).toEqual(new Date('2026-11-30T10:00:00.999Z'));
    expect(detail.attempts.map((a) => [a.number, a.logs.length, a.logGap?.total])).toEqual([
      [1, 9, undefined],
      [2, 100, 901],
      [3, 20, undefined],
    ]);
    expect(detail.attempts[1].logGap).toMatchObject({ before: 80, total: 901 });
    expect(detail.attempts[2].resumedFrom).toEqual({ page: 6 });
    expect(detail.attempts[0].logs[2]).toMatchObject({ level: 'warn', message: 'first line 2', data: { i: 2, label: 'first' } });
    expect(detail.retries.map((r) => r.id)).toEqual([ids.retry, ids['second retry']]);
    expect(detail.retries[0]).toStrictEqual({ id: ids.retry, status: 'queued', createdAt: expect.any(Date), triggeredBy: 'ada' });

    // 30 lines in all, in the order they were written: the first attempt's 7, the third's 10, the
    // second's first 13; past the limit still the capped attempt's gap and kept last lines.
    const limited = (await getRunDetail(t.db, { id: ids.busy, logLimit: 30 }))!;
    expect(limited.attempts.map((a) => [a.logs.length, a.logGap?.before])).toEqual([
      [7, undefined],
      [13 + 20, 13],
      [10, undefined],
    ]);
  });

  it('finds a run in an old week and in the DEFAULT partition, with its retries in later weeks', async () => {
    const old = (await getRunDetail(t.db, { id: ids['old week'] }))!;
    expect(old.attempts.map((a) => a.logs.map((l) => l.message))).toEqual([
      ['old line 0', 'old line 1', 'old line 2'],
      ['old second line 0', 'old second line 1', 'old second line 2', 'old second line 3'],
    ]);
    expect(old.retries.map((r) => r.id)).toEqual([ids['old retry, next week'], ids['old retry, today']]);
    const ancient = (await getRunDetail(t.db, { id: ids.ancient }))!;
    expect(ancient.attempts[0].logs.map((l) => l.message)).toEqual(['ancient line 0']);
    const bare = (await getRunDetail(t.db, { id: ids['no attempts'] }))!;
    expect([bare.run.hold, bare.attempts, bare.retries]).toEqual(['pace', [], []]);
    const quiet = (await getRunDetail(t.db, { id: ids['no logs'] }))!;
    expect(quiet.attempts.map((a) => [a.outcome, a.logs, a.logGap])).toEqual([
      ['failed', [], undefined],
      ['running', [], undefined],
    ]);
  });

  it('gives back a jsonb string that reads as JSON as that string, not parsed a second time', async () => {
    // Written in SQL so the stored values are certain: jsonb strings, not numbers or booleans.
    const [row] = await t.db.execute<{ id: string; created_at: string }>(sql`
      insert into runs (integration, trigger, triggered_by, correlation_id, max_attempts, input, checkpoint)
      values ('alpha', 'api', 'ada', 'c-jsonish', 1, '"42"'::jsonb, '"true"'::jsonb) returning id, created_at::text`);
    await t.db.execute(sql`
      insert into attempts (run_id, run_created_at, number, outcome, resumed_from)
      values (${row.id}, ${row.created_at}::timestamptz, 1, 'failed', '"[1]"'::jsonb)`);
    const detail = (await getRunDetail(t.db, { id: row.id }))!;
    expect([detail.run.input, detail.run.checkpoint, detail.attempts[0].resumedFrom]).toStrictEqual(['42', 'true', '[1]']);
  });

  it('returns null for an id no run has and for an id that is not a uuid', async () => {
    expect(await getRunDetail(t.db, { id: randomUUID() })).toBeNull();
    for (const id of ['not-a-uuid', '', `${ids.busy}x`, "' or true --"]) expect(await getRunDetail(t.db, { id })).toBeNull();
    // Upper case is the same uuid.
    expect((await getRunDetail(t.db, { id: ids.busy.toUpperCase() }))?.run.id).toBe(ids.busy);
  });

  it('reads in one round trip, a statement each connection prepares once, inside a transaction too', async () => {
    const sent: string[] = [];
    const logging = drizzle(t.db.$client, { schema, logger: { logQuery: (query) => sent.push(query) } }) as unknown as Database;
    expect((await getRunDetail(logging, { id: ids.busy }))?.attempts).toHaveLength(3);
    expect(sent).toHaveLength(1);

    const inTransaction = t.db.transaction(async (tx) => {
      const want = await runDetailFourQueries(tx, { id: ids.busy, logLimit: 30 });
      for (let i = 0; i < 3; i++) expect(await getRunDetail(tx, { id: ids.busy, logLimit: 30 })).toStrictEqual(want);
      // A run written in the transaction is seen by it.
      const [late] = await tx
        .insert(runs)
        .values({ integration: 'alpha', trigger: 'retry', triggeredBy: 'tx', correlationId: 'c-tx', maxAttempts: 1, retryOf: ids.busy })
        .returning();
      expect((await getRunDetail(tx, { id: ids.busy }))?.retries.map((r) => r.id)).toContain(late.id);
      // One protocol-level statement on the transaction's connection, run again (not parsed again).
      const statements = await tx.execute<{ from_sql: boolean; runs: number }>(sql`
        select from_sql, (generic_plans + custom_plans)::int as runs
          from pg_prepared_statements where statement like '%attempt_log_batches%'`);
      expect(statements).toHaveLength(1);
      expect(statements[0].from_sql).toBe(false);
      expect(statements[0].runs).toBeGreaterThanOrEqual(4);
      tx.rollback();
    });
    await expect(inTransaction).rejects.toThrow('Rollback');
  });
});
