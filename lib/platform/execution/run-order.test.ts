import { asc, eq, inArray, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attemptLogs, attempts, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startTestBoss, TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { buildRegistry, syncRegistry } from '../registry';
import { ensurePlatformQueues } from './queue';
import { insertRun, loadIntegration } from './run-create';
import { startPlatformWorker, type PlatformWorker } from './worker';

/**
 * Runs of an integration start in the order they were requested. The earlier run's job is made to
 * arrive late (as a re-queued or re-delivered job does), so the later run's job is fetched first:
 * it must wait. An operator's retry is the exception, and its log says so.
 */

const started: string[] = [];
const ordered = (name: string) =>
  defineIntegration({
    name,
    description: 'Records the order runs start in',
    settings: z.object({}),
    async execute(ctx) {
      started.push(ctx.run.id);
      return { processed: 1 };
    },
  });
const defs = [ordered('ordered'), ordered('ordered-b'), ordered('ordered-c')] as IntegrationDefinition[];

let t: TestDatabase;
let boss: PgBoss;
let worker: PlatformWorker | undefined;
beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  await ensurePlatformQueues(boss, TEST_WORKER_OPTIONS.queue);
  await syncRegistry(t.db, { registry: buildRegistry(defs) });
});
afterAll(async () => {
  await worker?.stop({ timeoutMs: 2_000 });
  await boss.stop({ graceful: false });
  await t.drop();
});

async function request(trigger: 'manual' | 'retry', name = 'ordered'): Promise<string> {
  const integration = await loadIntegration(t.db, name);
  return t.db.transaction((tx) => insertRun(tx, boss, { integration, trigger, triggeredBy: 'ada', dryRun: false }));
}

/** Holds a run's job back for `seconds`, as a job re-queued after a deferral or redelivered late. */
async function delayJob(runId: string, seconds: number) {
  const [run] = await t.db.select().from(runs).where(eq(runs.id, runId));
  await t.db.execute(sql`update pgboss.job set start_after = now() + make_interval(secs => ${seconds}) where id = ${run.jobId}`);
}

async function allSucceeded(ids: string[]) {
  return waitFor(
    'the runs to succeed',
    async () => {
      const rows = await t.db.select().from(runs).where(inArray(runs.id, ids));
      return rows.length === ids.length && rows.every((r) => r.status === 'succeeded') ? rows : undefined;
    },
    30_000,
  );
}

/** Stops the worker of the test before and forgets the order its runs started in. */
async function stopWorker() {
  await worker?.stop({ timeoutMs: 2_000 });
  worker = undefined;
  started.length = 0;
}

async function startWorker() {
  worker = await startPlatformWorker({
    db: t.db,
    boss,
    registry: buildRegistry(defs),
    workerId: 'order-worker',
    options: { ...TEST_WORKER_OPTIONS, syncRegistry: false },
  });
}

describe('runs of an integration start in the order they were requested', () => {
  it('a later run waits for an earlier queued one whose job arrives late', async () => {
    const first = await request('manual');
    const second = await request('manual');
    const third = await request('manual');
    await delayJob(first, 3);
    await startWorker();
    await allSucceeded([first, second, third]);
    expect(started).toEqual([first, second, third]);
    // The later runs waited without starting an attempt (they were only re-queued).
    const rows = await t.db
      .select()
      .from(attempts)
      .where(inArray(attempts.runId, [first, second, third]))
      .orderBy(asc(attempts.startedAt));
    expect(rows.map((a) => [a.runId, a.number, a.outcome])).toEqual([
      [first, 1, 'succeeded'],
      [second, 1, 'succeeded'],
      [third, 1, 'succeeded'],
    ]);
  });

  it('an operator’s retry goes ahead of earlier queued runs and says so in its log', async () => {
    await stopWorker();
    const queued = await request('manual');
    const retry = await request('retry');
    await delayJob(queued, 3);
    await startWorker();
    await allSucceeded([queued, retry]);
    expect(started).toEqual([retry, queued]);
    const [attempt] = await t.db.select().from(attempts).where(eq(attempts.runId, retry));
    const logs = await t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, attempt.id));
    expect(logs.map((l) => l.message)).toContainEqual(
      'started ahead of 1 earlier queued run of ordered: a retry an operator asked for goes first; the others follow in the order they were requested',
    );
  });
});

/** Each run's job id as it was requested: a deferral re-queues a run under a new job. */
async function jobIds(ids: string[]): Promise<Map<string, string | null>> {
  const rows = await t.db.select({ id: runs.id, jobId: runs.jobId }).from(runs).where(inArray(runs.id, ids));
  return new Map(rows.map((r) => [r.id, r.jobId]));
}

describe('a run delivered first goes first when nothing requested earlier waits (issue 18)', () => {
  it('a fetch holding several jobs of each integration starts each one’s earliest, so no run is deferred', async () => {
    await stopWorker();
    // Runs of three integrations requested in turn, and a worker fetching sixteen jobs at a time:
    // the fetch's candidates hold several jobs of each integration, and the queue lets one of each
    // be active. It took any of them (pg-boss ranked a key's candidates without an order), so a
    // later run was delivered first, deferred for a second, and every run behind it with it.
    const names = ['ordered', 'ordered-b', 'ordered-c'];
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await request('manual', names[i % names.length]));
    const before = await jobIds(ids);
    worker = await startPlatformWorker({
      db: t.db,
      boss,
      registry: buildRegistry(defs),
      workerId: 'order-batch-worker',
      concurrency: 16,
      options: { ...TEST_WORKER_OPTIONS, syncRegistry: false, runBatchSize: 16 },
    });
    await allSucceeded(ids);
    for (const name of names) {
      const own = ids.filter((_, i) => names[i % names.length] === name);
      expect(started.filter((id) => own.includes(id))).toEqual(own);
    }
    expect(await jobIds(ids)).toEqual(before);
  });

  it('of two runs requested in the same millisecond, the one whose job comes first starts without waiting', async () => {
    await stopWorker();
    const a = await request('manual');
    const b = await request('manual');
    // Requested concurrently: one millisecond, and the queue delivers the run with the larger id first.
    const [first] = await t.db.select().from(runs).where(eq(runs.id, a));
    await t.db.update(runs).set({ createdAt: first.createdAt }).where(eq(runs.id, b));
    // An id tie-break puts the smaller id first; its job is made to come second.
    const [smaller, larger] = [a, b].sort();
    const before = await jobIds([a, b]);
    await t.db.execute(sql`update pgboss.job set created_on = created_on + interval '1 second' where id = ${before.get(smaller)}`);
    await t.db.execute(sql`update pgboss.job set created_on = created_on - interval '1 second' where id = ${before.get(larger)}`);
    await startWorker();
    await allSucceeded([a, b]);
    expect(started).toEqual([larger, smaller]);
    expect(await jobIds([a, b])).toEqual(before);
  });
});

describe('a run delivered ahead of an earlier one that still waits (issue 18)', () => {
  it('goes right behind it, with every run after it in order, and none waits a second', async () => {
    await stopWorker();
    // The later runs' jobs come before the earlier run's (as when two fetches race: one skips the
    // earlier job's row while the other holds it, and the other's claim then loses). Each later run
    // delivered first must wait; they used to be re-queued a second later, behind every run of the
    // integration, so a busy integration crawled (seen: 38 runs/s instead of ~190).
    const earlier = await request('manual');
    const later: string[] = [];
    for (let i = 0; i < 5; i++) later.push(await request('manual'));
    const first = await jobIds(later);
    await t.db.execute(sql`update pgboss.job set created_on = created_on - interval '1 second'
                            where id = any(string_to_array(${[...first.values()].join(',')}, ',')::uuid[])`);
    await startWorker();
    await allSucceeded([earlier, ...later]);
    expect(started).toEqual([earlier, ...later]);
    // Every re-queue of a later run went to the head of the line (priority), due at once.
    const requeued = await t.db.execute<{ priority: number; wait_ms: number }>(sql`
      select priority, extract(epoch from start_after - created_on) * 1000 as wait_ms from pgboss.job
       where data->>'runId' = any(string_to_array(${later.join(',')}, ','))
         and id <> all(string_to_array(${[...first.values()].join(',')}, ',')::uuid[])`);
    expect(requeued.length).toBeGreaterThan(0);
    for (const job of requeued) {
      expect(job.priority).toBe(1);
      expect(Number(job.wait_ms)).toBeLessThan(1_000);
    }
  });
});
