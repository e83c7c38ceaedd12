import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { attempts, auditLog, integrations, runs, webhookRejections, type RunStatus } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { logBatchInsert, type LogLine } from '../log';
import { checkHealth } from '../read-models/health';
import { getRunDetail } from '../read-models/run-queries';
import { ensureRunPartitions, pruneRuns, pruneWebhookRejections, startPruner } from './retention';

const line = (message: string): LogLine => ({ level: 'info', message, data: null, at: new Date() });

const DAY = 86_400_000;
const WEEK = 7 * DAY;

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values({ name: 'x', breakerKey: 'x' });
});
afterAll(() => t.drop());

/** A run with one attempt and one log line, all created at `createdAt`. */
async function runWithAttempt(createdAt: Date, status: RunStatus): Promise<string> {
  const [run] = await t.db
    .insert(runs)
    .values({ integration: 'x', trigger: 'schedule', triggeredBy: 'schedule', correlationId: 'c', maxAttempts: 1, status, createdAt })
    .returning();
  const [attempt] = await t.db
    .insert(attempts)
    .values({ runId: run.id, runCreatedAt: run.createdAt, number: 1, outcome: status === 'queued' ? 'interrupted' : 'succeeded' })
    .returning();
  await t.db.execute(logBatchInsert({ attemptId: attempt.id, runCreatedAt: run.createdAt }, [line(`log of ${status}`)]));
  return run.id;
}

/** The partitions of `parent`, by name. */
async function partitionsOf(parent: string): Promise<string[]> {
  const rows = await t.db.execute<{ name: string }>(sql`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = ${parent}::regclass order by c.relname`);
  return rows.map((r) => r.name);
}

/** The partition holding the run (tableoid). */
async function partitionOfRun(id: string): Promise<string> {
  const [row] = await t.db.execute<{ name: string }>(sql`select tableoid::regclass::text as name from runs where id = ${id}`);
  return row.name;
}

async function counts() {
  const [row] = await t.db.execute<{ runs: number; attempts: number; logs: number; audit: number }>(sql`
    select (select count(*)::int from runs) as runs, (select count(*)::int from attempts) as attempts,
           (select count(*)::int from attempt_logs) as logs, (select count(*)::int from audit_log) as audit`);
  return row;
}

describe('retention', () => {
  it('prunes refused webhook deliveries older than the period in batches, keeps the recent ones', async () => {
    const now = Date.now();
    const refused = (daysAgo: number, reason: string) => ({
      integration: 'x',
      status: 401,
      reason,
      remote: '192.0.2.1',
      receivedAt: new Date(now - daysAgo * DAY),
    });
    await t.db
      .insert(webhookRejections)
      .values([...Array.from({ length: 5 }, () => refused(40, 'old')), refused(31, 'old'), refused(29, 'recent'), refused(0, 'recent')]);
    expect(await pruneWebhookRejections(t.db, { olderThan: new Date(now - 30 * DAY), batchSize: 2 })).toBe(6);
    const left = await t.db.select({ reason: webhookRejections.reason }).from(webhookRejections);
    expect(left.map((r) => r.reason)).toEqual(['recent', 'recent']);

    // The worker's pruner applies RUN_RETENTION_DAYS to them too.
    await t.db.delete(webhookRejections);
    await t.db.insert(webhookRejections).values([refused(8, 'old'), refused(1, 'recent')]);
    const logged: string[] = [];
    const pruner = startPruner(t.db, { retentionDays: 7, retryMs: 1_000, log: (m) => logged.push(m) });
    try {
      // Waits for the first round, however loaded the machine; on a timeout the error names what
      // the pruner said instead (a skipped round says why).
      const said = await vi.waitFor(
        () => {
          const message = logged.find((m) => /refused webhook deliveries/.test(m));
          if (!message) throw new Error(`the pruner has not pruned them yet; it said: ${JSON.stringify(logged)}`);
          return message;
        },
        { timeout: 45_000, interval: 100 },
      );
      expect(said).toBe('pruned 1 refused webhook deliveries older than 7 days');
    } finally {
      pruner.stop();
    }
    expect((await t.db.select().from(webhookRejections)).map((r) => r.reason)).toEqual(['recent']);
    await t.db.delete(webhookRejections);
  });

  it('tries a round cut short by the database again after retryMs, not an hour later', async () => {
    await t.db.insert(webhookRejections).values({
      integration: 'x',
      status: 401,
      reason: 'old',
      remote: '192.0.2.1',
      receivedAt: new Date(Date.now() - 8 * DAY),
    });
    // Another session holds the table, so the round waits on it; its connection is then cut.
    const other = postgres(t.url, { max: 1, onnotice: () => {} });
    const logged: string[] = [];
    let pruner: ReturnType<typeof startPruner> | undefined;
    try {
      const held = other.begin(async (tx) => {
        await tx`lock table webhook_rejections in access exclusive mode`;
        pruner = startPruner(t.db, { retentionDays: 7, retryMs: 300, log: (m) => logged.push(m) });
        const waiting = async () =>
          (
            await tx<{ pid: number }[]>`
            select l.pid from pg_locks l where l.relation = 'webhook_rejections'::regclass and not l.granted`
          )[0]?.pid;
        await expect.poll(waiting, { timeout: 45_000 }).toBeTypeOf('number');
        await tx`select pg_terminate_backend(${(await waiting())!})`;
        // The log says why, in the database's words, not the statement that failed.
        await expect
          .poll(() => logged.find((m) => m.startsWith('pruning skipped:')), { timeout: 45_000 })
          .toMatch(/^pruning skipped: (write )?CONNECTION_CLOSED|terminating connection/);
      });
      await held;
      await vi.waitFor(
        () => {
          if (!logged.includes('pruned 1 refused webhook deliveries older than 7 days'))
            throw new Error(`not pruned yet; the pruner said: ${JSON.stringify(logged)}`);
        },
        { timeout: 45_000, interval: 100 },
      );
    } finally {
      pruner?.stop();
      await other.end();
    }
    expect(await t.db.select().from(webhookRejections)).toEqual([]);
  });

  it('prunes finished runs older than the period with their attempts and logs, keeps active runs and the audit trail', async () => {
    const old = new Date(Date.now() - 40 * DAY);
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
      .returning();
    const [attempt] = await t.db
      .insert(attempts)
      .values({ runId: inserted[0].id, runCreatedAt: inserted[0].createdAt, number: 1, outcome: 'succeeded' })
      .returning();
    await t.db.execute(logBatchInsert({ attemptId: attempt.id, runCreatedAt: inserted[0].createdAt }, [line('old')]));
    await t.db
      .insert(auditLog)
      .values({ changedBy: 'a', kind: 'action', integration: 'x', fieldName: 'run_now', correlationId: 'c', changedAt: old });

    const { deleted } = await pruneRuns(t.db, { olderThan: new Date(Date.now() - 30 * DAY), batchSize: 10 });
    expect(deleted).toBe(25);
    expect(await counts()).toEqual({ runs: 2, attempts: 0, logs: 0, audit: 1 });
    await t.db.delete(runs);
  });

  it('drops whole weeks of runs, attempts and logs, but never a week that holds an unfinished run', async () => {
    // Twenty weeks back to now, created the way the worker does it (as the runtime role under TEST_DB_ROLE=runtime).
    const created = await ensureRunPartitions(t.db, { from: new Date(Date.now() - 20 * WEEK), weeks: 21 });
    expect(created).toBeGreaterThan(0);
    const cutoff = new Date(Date.now() - 90 * DAY);
    const finishedWeek = new Date(Date.now() - 17 * WEEK);
    const unfinishedWeek = new Date(Date.now() - 16 * WEEK);
    const finished = await Promise.all((['succeeded', 'failed', 'cancelled'] as const).map((s) => runWithAttempt(finishedWeek, s)));
    const queued = await runWithAttempt(unfinishedWeek, 'queued');
    const doneNextToIt = await runWithAttempt(unfinishedWeek, 'succeeded');
    const recent = await runWithAttempt(new Date(Date.now() - DAY), 'succeeded');

    const finishedPartition = await partitionOfRun(finished[0]);
    const unfinishedPartition = await partitionOfRun(queued);
    expect(finishedPartition).toMatch(/^runs_w\d{8}$/);
    expect(unfinishedPartition).toMatch(/^runs_w\d{8}$/);
    expect(unfinishedPartition).not.toBe(finishedPartition);
    const suffix = finishedPartition.slice('runs_w'.length);
    expect(await partitionsOf('attempts')).toContain(`attempts_w${suffix}`);
    const [logsBefore] = await t.db.execute<{ n: number }>(sql.raw(`select count(*)::int as n from attempt_log_batches_w${suffix}`));
    expect(logsBefore.n).toBeGreaterThan(0);

    const { deleted, droppedWeeks } = await pruneRuns(t.db, { olderThan: cutoff });
    // The finished week went as a partition, not row by row; the unfinished one stays, only its finished run is deleted.
    expect(droppedWeeks).toContain(finishedPartition);
    expect(droppedWeeks).not.toContain(unfinishedPartition);
    expect(deleted).toBe(1);
    expect(await partitionsOf('runs')).not.toContain(finishedPartition);
    expect(await partitionsOf('attempts')).not.toContain(`attempts_w${suffix}`);
    expect(await partitionsOf('attempt_log_batches')).not.toContain(`attempt_log_batches_w${suffix}`);
    expect(await partitionsOf('runs')).toContain(unfinishedPartition);

    const left = await t.db.execute<{ id: string }>(sql`select id from runs order by created_at`);
    expect(left.map((r) => r.id)).toEqual([queued, recent]);
    expect(await counts()).toMatchObject({ runs: 2, attempts: 2, logs: 2 });
    expect(finished).not.toContain(doneNextToIt);

    // Once the queued run finishes, its week goes at the next round.
    await t.db.execute(sql`update runs set status = 'cancelled', finished_at = now() where id = ${queued}`);
    const again = await pruneRuns(t.db, { olderThan: cutoff });
    expect(again.droppedWeeks).toEqual([unfinishedPartition]);
    expect(await counts()).toMatchObject({ runs: 1, attempts: 1, logs: 1 });
    await t.db.delete(runs);
  });

  it('skips creating a week it cannot lock within 5 s instead of queueing every query behind it, and creates it later', async () => {
    const far = new Date(Date.now() + 40 * WEEK);
    const week = `runs_w${(await t.db.execute<{ w: string }>(sql`select to_char(run_partition_week(${far.toISOString()}::timestamptz) at time zone 'UTC', 'YYYYMMDD') as w`))[0].w}`;
    await t.db.transaction(async (tx) => {
      // An open transaction that read runs holds a lock that creating a partition must wait for.
      await tx.execute(sql`select count(*) from runs`);
      const started = Date.now();
      expect(await ensureRunPartitions(t.db, { from: far, weeks: 1 })).toBe(0);
      expect(Date.now() - started).toBeLessThan(15_000);
    });
    expect(await partitionsOf('runs')).not.toContain(week);
    expect(await ensureRunPartitions(t.db, { from: far, weeks: 1 })).toBe(1);
    expect(await partitionsOf('runs')).toContain(week);
    // Inside the caller's transaction, its own lock_timeout is back once the function returns.
    const setting = await t.db.transaction(async (tx) => {
      await tx.execute(sql`set local lock_timeout = '42s'`);
      await tx.execute(sql`select ensure_run_partitions(now(), 1)`);
      return (await tx.execute<{ v: string }>(sql`select current_setting('lock_timeout') as v`))[0].v;
    });
    expect(setting).toBe('42s');
  });

  it('lets no role but the owner and those granted EXECUTE create or drop weeks', async () => {
    // The functions run as the owner (SECURITY DEFINER): executable by PUBLIC they would let any
    // role that can connect drop a week of runs. The runtime role's grant is proven by this file
    // running under `npm run test:runtime-role`.
    const url = new URL(inject('adminUrl'));
    url.pathname = `/${t.name}`;
    const admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
    const nobody = `jt_nobody_${randomBytes(4).toString('hex')}`;
    try {
      await admin.unsafe(`create role ${nobody} nologin`);
      const asNobody = (call: string) =>
        admin.begin(async (tx) => {
          await tx.unsafe(`set local role ${nobody}`);
          await tx.unsafe(call);
        });
      await expect(asNobody(`select drop_run_partitions(now())`)).rejects.toThrow(/permission denied for function drop_run_partitions/);
      await expect(asNobody(`select ensure_run_partitions(now(), 1)`)).rejects.toThrow(
        /permission denied for function ensure_run_partitions/,
      );
    } finally {
      await admin.unsafe(`drop role if exists ${nobody}`);
      await admin.end();
    }
  });

  it('finds a run by id alone in any week, the DEFAULT partition included, with its attempts and logs', async () => {
    await ensureRunPartitions(t.db, { from: new Date(Date.now() - 4 * WEEK), weeks: 5 });
    // Far in the past, before any partition: the row lands in the DEFAULT partition instead of failing.
    const ancient = await runWithAttempt(new Date(Date.now() - 400 * DAY), 'failed');
    const weekOld = await runWithAttempt(new Date(Date.now() - 3 * WEEK), 'succeeded');
    const today = await runWithAttempt(new Date(), 'succeeded');
    expect(await partitionOfRun(ancient)).toBe('runs_default');
    // Stored and found, but the health check says the weeks were not created ahead.
    expect((await checkHealth(t.db)).database).toEqual({
      ok: true,
      detail: expect.stringContaining('1 runs outside the weekly partitions'),
    });
    expect(await partitionOfRun(weekOld)).toMatch(/^runs_w\d{8}$/);
    for (const id of [ancient, weekOld, today]) {
      const detail = await getRunDetail(t.db, { id });
      expect(detail?.run.id).toBe(id);
      expect(detail?.attempts).toHaveLength(1);
      expect(detail?.attempts[0].logs.map((l) => l.message)).toHaveLength(1);
    }
    // The run's rows are one week: attempts and logs sit in the partitions of the same name.
    const [aligned] = await t.db.execute<{ ok: boolean }>(sql`
      select bool_and(substr(r.tableoid::regclass::text, 6) = substr(a.tableoid::regclass::text, 10)
                  and substr(r.tableoid::regclass::text, 6) = substr(l.tableoid::regclass::text, 21)) as ok
        from runs r join attempts a on a.run_id = r.id join attempt_log_batches l on l.attempt_id = a.id`);
    expect(aligned.ok).toBe(true);
    await t.db.delete(runs);
    expect((await checkHealth(t.db)).database).toEqual({ ok: true, detail: 'reachable' });
  });
});
