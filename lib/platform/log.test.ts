import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptLogs, attempts, integrations, runs } from '../../db/schema';
import { freshDatabase, type TestDatabase } from '../../test/db';
import { createAttemptLog, readAttemptLogs, writeLogLines, type LogLine } from './log';

let t: TestDatabase;
let attemptId: string;
let runCreatedAt: Date;
let runId: string;
let attemptNumber = 2;
/** A new attempt of the test's run. */
async function newAttempt(): Promise<string> {
  const [attempt] = await t.db.insert(attempts).values({ runId, runCreatedAt, number: ++attemptNumber }).returning();
  return attempt.id;
}
async function viewLines(id: string) {
  return t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, id)).orderBy(asc(attemptLogs.id));
}
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values({ name: 'logger', breakerKey: 'logger' });
  const [run] = await t.db
    .insert(runs)
    .values({ integration: 'logger', trigger: 'manual', triggeredBy: 'x', correlationId: 'c', maxAttempts: 1 })
    .returning();
  runCreatedAt = run.createdAt;
  runId = run.id;
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
    // A real failure in PostgreSQL: the first insert into attempt_log_batches after this raises.
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
      sql`create trigger fail_first_log_insert before insert on attempt_log_batches for each statement execute function fail_first_log_insert()`,
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
      await t.db.execute(sql`drop trigger fail_first_log_insert on attempt_log_batches`);
      await t.db.execute(sql`drop function fail_first_log_insert()`);
      await t.db.execute(sql`drop sequence log_fail_seq`);
    }
  });

  it('stores lines column-wise, one row per flush: order, levels, data and times (ms) come back exact', async () => {
    const id = await newAttempt();
    const base = Date.UTC(2026, 10, 30, 12, 0, 0, 7);
    const odd = ['', 'NULL', 'a "quoted", {braced} \\ back\\slash', 'tab\tnew\nline', 'ünïcødé ✓', 'nul \0 byte', '  spaced  '];
    const first: LogLine[] = odd.map((message, i) => ({
      level: (['debug', 'info', 'warn', 'error'] as const)[i % 4],
      message,
      data: i === 2 ? { n: i, s: 'x' } : null,
      at: new Date(base + i * 333),
    }));
    const second: LogLine[] = [
      { level: 'info', message: 'second flush', data: null, at: new Date(base + 86_400_000 + 1) },
      { level: 'error', message: 'earlier clock', data: [1, 'two'], at: new Date(base - 5) },
    ];
    await writeLogLines(t.db, { attemptId: id, runCreatedAt }, first);
    await writeLogLines(t.db, { attemptId: id, runCreatedAt }, second);
    const expected = [...first, ...second].map((l) => ({
      level: l.level,
      message: l.message.replace('\0', '\uFFFD'),
      data: l.data,
      at: l.at.getTime(),
    }));
    const rows = await viewLines(id);
    expect(rows.map((r) => ({ level: r.level, message: r.message, data: r.data, at: r.at.getTime() }))).toEqual(expected);
    const read = (await readAttemptLogs(t.db, { attemptIds: [id], runCreatedAt, limit: 100 })).get(id)!;
    expect(read.lines.map((r) => ({ level: r.level, message: r.message, data: r.data, at: r.at.getTime() }))).toEqual(expected);
    expect(read.lines.map((r) => r.id)).toEqual(rows.map((r) => r.id));
    expect(read.gap).toBeUndefined();
    // One row per write; both carry data, as a line of each has some.
    const batches = await t.db.execute<{ n: number; with_data: boolean }>(
      sql`select cardinality(messages) as n, data is not null as with_data from attempt_log_batches where attempt_id = ${id} order by id`,
    );
    expect(batches.map((b) => [b.n, b.with_data])).toEqual([
      [7, true],
      [2, true],
    ]);
    // The limit counts lines across rows.
    const limited = (await readAttemptLogs(t.db, { attemptIds: [id], runCreatedAt, limit: 8 })).get(id)!;
    expect(limited.lines.map((l) => l.message)).toEqual(expected.slice(0, 8).map((l) => l.message));
  });

  it('writes lines without data with no data column, and flushes by size and by time in order', async () => {
    const id = await newAttempt();
    const log = createAttemptLog(t.db, { attemptId: id, runCreatedAt, flushMs: 50, maxBatch: 10 });
    const times: [number, number][] = [];
    for (let i = 0; i < 25; i++) {
      const before = Date.now();
      log.info(`line ${i}`);
      times.push([before, Date.now()]);
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
    log.warn('late');
    const handed = await log.handOver();
    expect(handed.map((l) => l.message)).toEqual(['late']);
    await writeLogLines(t.db, { attemptId: id, runCreatedAt }, handed);
    const rows = await viewLines(id);
    expect(rows.map((r) => r.message)).toEqual([...Array.from({ length: 25 }, (_, i) => `line ${i}`), 'late']);
    rows.slice(0, 25).forEach((r, i) => {
      expect(r.at.getTime()).toBeGreaterThanOrEqual(times[i][0]);
      expect(r.at.getTime()).toBeLessThanOrEqual(times[i][1]);
    });
    expect(rows[25]).toMatchObject({ level: 'warn', at: handed[0].at, data: null });
    const batches = await t.db.execute<{ n: number; with_data: boolean }>(
      sql`select cardinality(messages) as n, data is not null as with_data from attempt_log_batches where attempt_id = ${id} order by id`,
    );
    expect(batches.map((b) => [b.n, b.with_data])).toEqual([
      [10, false],
      [10, false],
      [5, false],
      [1, false],
    ]);
  });

  it('keeps the first lines and the last ones past the cap, warn and error first, and counts the rest per level', async () => {
    const id = await newAttempt();
    const log = createAttemptLog(t.db, { attemptId: id, runCreatedAt, flushMs: 60_000, maxBatch: 50, maxLines: 100, keepLast: 20 });
    for (let i = 0; i < 10_000; i++) {
      if (i === 9_950) log.warn('retrying batch 9950');
      else if (i % 1_000 === 999) log.debug(`debug ${i}`);
      else log.info(`record ${i}`);
    }
    log.error('attempt failed: the API answered 503');
    // Past the cap the log writes its end itself: nothing is handed over.
    expect(await log.handOver()).toEqual([]);
    const rows = await viewLines(id);
    const messages = rows.map((r) => r.message);
    expect(messages).toHaveLength(100);
    expect(messages.slice(0, 80)).toEqual(Array.from({ length: 80 }, (_, i) => `record ${i}`));
    // Of the last 20: the latest 10 always, the warn line from before them, then the latest others.
    expect(messages.slice(90)).toEqual([
      ...Array.from({ length: 8 }, (_, i) => `record ${9_991 + i}`),
      'debug 9999',
      'attempt failed: the API answered 503',
    ]);
    expect(messages).toContain('retrying batch 9950');
    expect(messages.slice(80, 90)).toEqual(['retrying batch 9950', ...Array.from({ length: 9 }, (_, i) => `record ${9_982 + i}`)]);
    const read = (await readAttemptLogs(t.db, { attemptIds: [id], runCreatedAt, limit: 2_000 })).get(id)!;
    // 10,001 lines logged, 100 kept: 9 debug lines (999 to 8999) and 9,892 info lines not kept.
    expect(read.gap).toEqual({ before: 80, dropped: { debug: 9, info: 9_892, warn: 0, error: 0 }, total: 9_901 });
    expect(read.lines[80].message).toBe('retrying batch 9950');
    expect(read.lines).toHaveLength(100);
    // Past the run page's limit, the gap and the kept last lines still show.
    const limited = (await readAttemptLogs(t.db, { attemptIds: [id], runCreatedAt, limit: 30 })).get(id)!;
    expect(limited.gap?.before).toBe(30);
    expect(limited.lines.map((l) => l.message)).toEqual([...messages.slice(0, 30), ...messages.slice(80)]);
  });

  it('holds only twice the kept tail in memory while an attempt logs without end', async () => {
    const id = await newAttempt();
    const log = createAttemptLog(t.db, { attemptId: id, runCreatedAt, flushMs: 60_000, maxLines: 1_000 });
    for (let i = 0; i < 300_000; i++) log.info(`line ${i}`, i % 2 ? { i } : undefined);
    await log.close();
    const [stored] = await t.db.execute<{ rows: number; lines: number }>(
      sql`select count(*)::int as rows, sum(cardinality(messages))::int as lines from attempt_log_batches where attempt_id = ${id}`,
    );
    expect(stored).toEqual({ rows: 6, lines: 1_000 });
    const read = (await readAttemptLogs(t.db, { attemptIds: [id], runCreatedAt, limit: 2_000 })).get(id)!;
    expect(read.gap).toEqual({ before: 900, dropped: { debug: 0, info: 299_000, warn: 0, error: 0 }, total: 299_000 });
    expect(read.lines.at(-1)).toMatchObject({ message: 'line 299999', data: { i: 299_999 } });
  });
});
