import { asc, eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attemptLogs, cursors, integrations, runRecoveries, runs } from '../../../db/schema';
import type { TestDatabase } from '../../../test/db';
import {
  platformEvents,
  runQueries,
  sleep,
  startTestPlatform,
  TEST_WORKER_OPTIONS,
  waitFor,
  type TestPlatform,
} from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { PermanentError, TransientError } from '../errors';
import { buildRegistry } from '../registry';
import { cancelRun, runNow } from '../triggers/triggers';
import { RUNS_QUEUE, SCHEDULE_QUEUE } from './queue';
import { startPlatformWorker, type PlatformWorker } from './worker';

const windows: Record<string, { start: number; end: number }[]> = { serial: [], other: [] };

const defs = [
  defineIntegration({
    name: 'flaky',
    description: 'Fails twice, then succeeds',
    settings: z.object({ failUntil: z.number().int() }),
    defaults: { retry: { delays: ['1s', '2s'] }, settings: { failUntil: 3 } },
    async execute(ctx) {
      ctx.log.info(`attempt ${ctx.run.attempt}`, { attempt: ctx.run.attempt });
      ctx.progress(ctx.run.attempt, 3);
      ctx.cursor.set({ upTo: `attempt-${ctx.run.attempt}` });
      if (ctx.run.attempt < ctx.settings.failUntil) throw new TransientError(`upstream busy on attempt ${ctx.run.attempt}`);
      return { processed: 42, summary: 'done' };
    },
  }),
  defineIntegration({
    name: 'always-down',
    description: 'Always fails transiently',
    settings: z.object({}),
    defaults: { retry: { delays: ['1s'] } },
    async execute() {
      throw new Error('connection reset by upstream');
    },
  }),
  defineIntegration({
    name: 'misconfigured',
    description: 'Throws a permanent error',
    settings: z.object({}),
    async execute(ctx) {
      ctx.cursor.set('should-not-commit');
      throw new PermanentError('mapping for field "total" is missing');
    },
  }),
  defineIntegration({
    name: 'needs-url',
    description: 'Settings without the required URL',
    settings: z.object({ baseUrl: z.string().url() }),
    async execute() {
      return {};
    },
  }),
  defineIntegration({
    name: 'serial',
    description: 'Takes a while',
    settings: z.object({}),
    async execute() {
      const start = Date.now();
      await sleep(600);
      windows.serial.push({ start, end: Date.now() });
      return { processed: 1 };
    },
  }),
  defineIntegration({
    name: 'other',
    description: 'Runs beside serial',
    settings: z.object({}),
    async execute() {
      const start = Date.now();
      await sleep(600);
      windows.other.push({ start, end: Date.now() });
      return {};
    },
  }),
  defineIntegration({
    name: 'waiter',
    description: 'Waits until cancelled',
    settings: z.object({}),
    secrets: ['apiKey'],
    async execute(ctx) {
      ctx.log.info(`key ends with ${ctx.secrets.apiKey?.slice(-2)}`);
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 30_000);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(ctx.signal.reason);
        });
      });
      return {};
    },
  }),
  defineIntegration({
    name: 'stubborn',
    description: 'Ignores cancellation and finishes when the test lets it',
    settings: z.object({}),
    async execute(ctx) {
      ctx.log.info('started');
      await stubbornGate.promise;
      ctx.log.info('finished regardless');
      return { processed: 1 };
    },
  }),
] as IntegrationDefinition[];

const stubbornGate = (() => {
  let open = () => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open: () => open() };
})();

let t: TestDatabase;
let boss: PgBoss;
let worker: PlatformWorker;
let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(defs, {
    workerId: 'test-worker',
    concurrency: 3,
    secrets: { read: async (integration, names) => Object.fromEntries(names.map((n) => [n, `${integration}-${n}-xy`])) },
  });
  ({ t, boss, worker } = platform);
});
afterAll(() => platform?.stop());

const { runRow, attemptRows, finished } = runQueries(() => t.db);

describe('runs with durable retries', () => {
  it('retries a transient failure after each configured delay, as new jobs, until it succeeds', async () => {
    // An earlier run of flaky failed: this one's success may close its incident, so it is announced.
    await t.db.insert(runRecoveries).values({ integration: 'flaky' });
    const { runId } = await runNow(t.db, boss, { integration: 'flaky', triggeredBy: 'ada' });
    const retrying = await waitFor('the first retry to be scheduled', async () => {
      const run = await runRow(runId);
      return run.status === 'retrying' ? run : undefined;
    });
    expect(retrying.nextAttemptAt).toBeInstanceOf(Date);
    const firstJob = retrying.jobId;

    const run = await finished(runId);
    expect(run).toMatchObject({
      status: 'succeeded',
      attemptCount: 3,
      result: { processed: 42, summary: 'done' },
      progressDone: 3,
      progressTotal: 3,
      errorMessage: null,
    });
    expect(run.jobId).not.toBe(firstJob);
    const rows = await attemptRows(runId);
    expect(rows.map((a) => [a.number, a.outcome])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
      [3, 'succeeded'],
    ]);
    expect(rows[0]).toMatchObject({ errorMessage: 'upstream busy on attempt 1', errorClass: 'TransientError', worker: 'test-worker' });
    expect(new Set(rows.map((a) => a.jobId)).size).toBe(3);
    const gap1 = rows[1].startedAt.getTime() - rows[0].finishedAt!.getTime();
    const gap2 = rows[2].startedAt.getTime() - rows[1].finishedAt!.getTime();
    expect(gap1).toBeGreaterThanOrEqual(1_000);
    expect(gap1).toBeLessThan(6_000);
    expect(gap2).toBeGreaterThanOrEqual(2_000);
    expect(gap2).toBeLessThan(7_000);

    const logs = await t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, rows[2].id)).orderBy(asc(attemptLogs.id));
    expect(logs.map((l) => l.message)).toContain('attempt 3');
    const [cursor] = await t.db.select().from(cursors).where(eq(cursors.integration, 'flaky'));
    expect(cursor).toMatchObject({ value: { upTo: 'attempt-3' }, runId });
    const events = (await platformEvents(t.db)).filter((e) => e.runId === runId);
    expect(events).toEqual([expect.objectContaining({ type: 'run.succeeded', integration: 'flaky', correlationId: run.correlationId })]);
    expect(await t.db.select().from(runRecoveries)).toEqual([]);
  });

  it('fails at once on a permanent error, without committing the cursor, and emits run.failed', async () => {
    const { runId } = await runNow(t.db, boss, { integration: 'misconfigured', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({
      status: 'failed',
      attemptCount: 1,
      errorClass: 'PermanentError',
      errorMessage: 'mapping for field "total" is missing',
    });
    expect(await t.db.select().from(cursors).where(eq(cursors.integration, 'misconfigured'))).toEqual([]);
    const [event] = (await platformEvents(t.db, 'run.failed')).filter((e) => e.runId === runId);
    expect(event).toMatchObject({ integration: 'misconfigured', reason: 'permanent', attempts: 1, errorClass: 'PermanentError' });
  });

  it('fails when the delays are used up and emits run.failed with reason retries_exhausted', async () => {
    const { runId } = await runNow(t.db, boss, { integration: 'always-down', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({ status: 'failed', attemptCount: 2, maxAttempts: 2, errorMessage: 'connection reset by upstream' });
    expect((await attemptRows(runId)).map((a) => a.outcome)).toEqual(['failed', 'failed']);
    const [event] = (await platformEvents(t.db, 'run.failed')).filter((e) => e.runId === runId);
    expect(event).toMatchObject({ reason: 'retries_exhausted', attempts: 2, error: 'connection reset by upstream' });
  });

  it('fails permanently when settings do not parse, naming the field', async () => {
    const { runId } = await runNow(t.db, boss, { integration: 'needs-url', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run.status).toBe('failed');
    expect(run.attemptCount).toBe(1);
    expect(run.errorMessage).toMatch(/^Setting 'baseUrl' of 'needs-url' is invalid: .+\. Fix it in the integration's configuration\.$/);
  });

  it('executes one run of an integration at a time while other integrations run beside it', async () => {
    const a = await runNow(t.db, boss, { integration: 'serial', triggeredBy: 'ada', trigger: 'api' });
    const b = await runNow(t.db, boss, { integration: 'serial', triggeredBy: 'ada', trigger: 'api' });
    const c = await runNow(t.db, boss, { integration: 'other', triggeredBy: 'ada', trigger: 'api' });
    await Promise.all([finished(a.runId), finished(b.runId), finished(c.runId)]);
    const [first, second] = windows.serial.sort((x, y) => x.start - y.start);
    expect(second.start).toBeGreaterThanOrEqual(first.end);
    const overlaps = windows.other.some((o) => windows.serial.some((s) => o.start < s.end && s.start < o.end));
    expect(overlaps).toBe(true);
  });

  it('cancelling a running run aborts its signal and records the attempt as cancelled', async () => {
    const { runId } = await runNow(t.db, boss, { integration: 'waiter', triggeredBy: 'ada' });
    await waitFor('the attempt to start', async () => (await runRow(runId)).status === 'running');
    await sleep(200);
    await cancelRun(t.db, boss, { runId, by: 'op@example.com' });
    const run = await finished(runId, 5_000);
    expect(run.status).toBe('cancelled');
    const rows = await attemptRows(runId);
    expect(rows.map((r) => r.outcome)).toEqual(['cancelled']);
    const logs = await t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, rows[0].id));
    expect(logs.map((l) => l.message)).toContain('key ends with xy');
    // Stopped, not failed: an info line saying it was cancelled, no error line (before: "error:
    // attempt 1 failed: run … was cancelled" beside the outcome cancelled).
    expect(logs.find((l) => l.message.startsWith('attempt 1 stopped: '))).toMatchObject({
      level: 'info',
      message: `attempt 1 stopped: run ${runId} was cancelled`,
    });
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('turns a schedule tick into a run with trigger schedule, and skips it while paused', async () => {
    // Every minute, for an hour: the tick the job is sent for now is one of the current schedule.
    await t.db
      .update(integrations)
      .set({ schedule: '* * * * *', scheduleSince: new Date(Date.now() - 3_600_000) })
      .where(eq(integrations.name, 'other'));
    await boss.send(SCHEDULE_QUEUE, { integration: 'other' });
    const run = await waitFor('the scheduled run', async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.trigger, 'schedule'));
      return row?.status === 'succeeded' ? row : undefined;
    });
    expect(run).toMatchObject({ integration: 'other', triggeredBy: 'schedule' });
    await t.db.update(integrations).set({ paused: true }).where(eq(integrations.name, 'other'));
    const tick = await boss.send(SCHEDULE_QUEUE, { integration: 'other' });
    await waitFor(
      'the paused tick to be handled',
      async () => (await boss.findJobs(SCHEDULE_QUEUE, { id: tick! }))[0]?.state === 'completed',
    );
    expect(await t.db.select().from(runs).where(eq(runs.trigger, 'schedule'))).toHaveLength(1);
  });

  it('stopping a worker releases a run it cannot finish: re-queued without using an attempt', async () => {
    const extra = await startPlatformWorker({
      db: t.db,
      boss,
      registry: buildRegistry(defs),
      workerId: 'second',
      options: TEST_WORKER_OPTIONS,
    });
    await worker.stop({ timeoutMs: 1_000 });
    const { runId } = await runNow(t.db, boss, { integration: 'waiter', triggeredBy: 'ada' });
    await waitFor('the attempt to start on the second worker', async () => (await runRow(runId)).status === 'running');
    await extra.stop({ timeoutMs: 300 });
    const run = await runRow(runId);
    expect(run).toMatchObject({ status: 'queued', attemptCount: 0 });
    const rows = await attemptRows(runId);
    expect(rows.map((r) => [r.number, r.outcome, r.worker])).toEqual([[1, 'deferred', 'second']]);
    expect(rows[0].errorMessage).toMatch(/^released: worker second is stopping/);

    worker = await startPlatformWorker({ db: t.db, boss, registry: buildRegistry(defs), workerId: 'third', options: TEST_WORKER_OPTIONS });
    await waitFor('the released run to start again', async () => (await runRow(runId)).status === 'running');
    await cancelRun(t.db, boss, { runId, by: 'op' });
    await finished(runId, 5_000);
    const [integration] = await t.db.select().from(integrations).where(eq(integrations.name, 'waiter'));
    expect(integration.registered).toBe(true);
  });

  it('a handler that returns after its run was cancelled: the run stays cancelled, its logs and job are settled', async () => {
    // The cancel is not seen by the worker before the handler returns (slow cancel poll): the
    // one-statement success path finds the run cancelled, rolls back and the general path records it.
    await worker.stop({ timeoutMs: 1_000 });
    const slow = await startPlatformWorker({
      db: t.db,
      boss,
      registry: buildRegistry(defs),
      workerId: 'slow-cancel-poll',
      options: { ...TEST_WORKER_OPTIONS, cancelPollMs: 60_000 },
    });
    try {
      const { runId } = await runNow(t.db, boss, { integration: 'stubborn', triggeredBy: 'ada' });
      await waitFor('the attempt to start', async () => (await runRow(runId)).status === 'running');
      await cancelRun(t.db, boss, { runId, by: 'op' });
      stubbornGate.open();
      const run = await finished(runId, 5_000);
      expect(run.status).toBe('cancelled');
      const rows = await attemptRows(runId);
      expect(rows.map((r) => r.outcome)).toEqual(['cancelled']);
      expect(rows[0].errorMessage).toMatch(/handler finished anyway/);
      const logs = await t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, rows[0].id)).orderBy(asc(attemptLogs.id));
      expect(logs.map((l) => l.message)).toEqual(expect.arrayContaining(['started', 'finished regardless']));
      await waitFor('the job to be completed', async () => (await boss.getJobById(RUNS_QUEUE, run.jobId!))?.state === 'completed');
    } finally {
      await slow.stop({ timeoutMs: 1_000 });
      worker = await startPlatformWorker({
        db: t.db,
        boss,
        registry: buildRegistry(defs),
        workerId: 'fourth',
        options: TEST_WORKER_OPTIONS,
      });
    }
  });

  it('a success commits the run, its last log lines and its job together', async () => {
    const { runId } = await runNow(t.db, boss, { integration: 'other', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run.status).toBe('succeeded');
    const [attempt] = await attemptRows(runId);
    const logs = await t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, attempt.id));
    expect(logs.map((l) => l.message)).toEqual([expect.stringMatching(/^attempt 1 of \d+ started on fourth/)]);
    expect(logs[0].data).toMatchObject({ correlationId: run.correlationId });
    expect((await boss.getJobById(RUNS_QUEUE, run.jobId!))?.state).toBe('completed');
    // Nothing of 'other' failed: alerting has nothing to close, so no run.succeeded is queued for it.
    expect((await platformEvents(t.db)).filter((e) => e.runId === runId)).toEqual([]);
  });
});
