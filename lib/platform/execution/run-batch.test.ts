import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connect, disconnect } from '../../../db/client';
import { attempts, breakers, incidents, integrations, runRecoveries, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { platformEvents, startTestBoss, waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { PermanentError, TransientError } from '../errors';
import { platformMetrics } from '../observability/metrics';
import { buildRegistry, syncRegistry } from '../registry';
import { runNow } from '../triggers/triggers';
import { startLiveness, type Liveness } from './liveness';
import { ensurePlatformQueues, RUNS_QUEUE } from './queue';
import { executeRunBatch, loadAndStartQuery, START_BATCH_SQL, type RunJobOutcome, type RunnerDeps } from './runner';

/**
 * The batch path (executeRunBatch): the runs of one fetch are loaded, started and, when they
 * succeed, recorded together. Every run that cannot take it, or whose fence fails at the end,
 * must take the per-run path and end as it would alone, while the others still succeed once.
 */

function gate() {
  let open = () => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open: () => open(), started: false };
}
const gates = { cancelled: gate(), takenOver: gate() };
const flaky = { failing: true };

const noop = (name: string) =>
  defineIntegration({
    name,
    description: 'Does nothing',
    settings: z.object({}),
    async execute(ctx) {
      ctx.cursor.set({ done: ctx.run.id });
      ctx.log.info('booked "1" \\ {x}', { run: ctx.run.id });
      ctx.log.warn('second line');
      return { processed: 1 };
    },
  });
const gated = (name: string, g: ReturnType<typeof gate>) =>
  defineIntegration({
    name,
    description: 'Succeeds when the test lets it',
    settings: z.object({}),
    async execute() {
      g.started = true;
      await g.promise;
      return { processed: 1 };
    },
  });

/** Used only by the settle-on-the-wire test: no other test leaves a run of them queued. */
const wireDefs = [noop('wire-a'), noop('wire-b')];

const defs = [
  noop('plain-a'),
  noop('plain-b'),
  gated('cancelled-meanwhile', gates.cancelled),
  gated('taken-over', gates.takenOver),
  defineIntegration({
    name: 'throws',
    description: 'Fails transiently',
    settings: z.object({}),
    defaults: { retry: { delays: ['30s'] } },
    async execute() {
      throw new TransientError('upstream busy');
    },
  }),
  noop('breaker-open'),
  noop('not-its-turn'),
  defineIntegration({
    name: 'flaky',
    description: 'Fails while the test says so',
    settings: z.object({}),
    async execute() {
      if (flaky.failing) throw new PermanentError('the ledger is closed');
      return { processed: 1 };
    },
  }),
] as IntegrationDefinition[];
// Registered beside defs, outside the first test's batch.
const startDefs = [noop('started-by-load'), noop('half-open')] as IntegrationDefinition[];

let t: TestDatabase;
let boss: PgBoss;
let liveness: Liveness;
beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  await ensurePlatformQueues(boss, { expireInSeconds: 60, heartbeatSeconds: null, retryLimit: 5 });
  await syncRegistry(t.db, { registry: buildRegistry([...defs, ...startDefs, ...wireDefs]) });
  liveness = await startLiveness({ db: t.db, boss, workerId: 'batch-test', intervalMs: 60_000, onSessionLost: () => {} });
});
afterAll(async () => {
  await liveness?.stop();
  await boss?.stop({ graceful: false });
  await t?.drop();
});

const runRow = async (id: string) => (await t.db.select().from(runs).where(eq(runs.id, id)))[0];

describe('a batch of runs of different integrations', () => {
  it('settles the usual successes together and sends every other run down its own path, each once', async () => {
    const ids: Record<string, string> = {};
    for (const def of defs.filter((d) => d.name !== 'flaky')) {
      ids[def.name] = (await runNow(t.db, boss, { integration: def.name, triggeredBy: 'ada', trigger: 'api' })).runId;
    }
    // Not its turn: another run of the integration has started (its job is not fetchable beside this one's).
    const { runId: other } = await runNow(t.db, boss, { integration: 'not-its-turn', triggeredBy: 'ada', trigger: 'api' });
    // The breaker of one integration is open.
    const [{ breakerKey }] = await t.db
      .select({ breakerKey: integrations.breakerKey })
      .from(integrations)
      .where(eq(integrations.name, 'breaker-open'));
    await t.db.insert(breakers).values({ key: breakerKey, state: 'open', openedAt: new Date(), openUntil: new Date(Date.now() + 60_000) });

    const jobs = await boss.fetch<{ runId: string }>(RUNS_QUEUE, { batchSize: 20 });
    // The queue delivers one job per integration: whichever of the two it chose is the one behind.
    let ahead = other;
    if (jobs.some((j) => j.data.runId === other)) [ahead, ids['not-its-turn']] = [ids['not-its-turn'], other];
    await t.db
      .update(runs)
      .set({ status: 'retrying', startedAt: sql`now()` })
      .where(eq(runs.id, ahead));
    expect(jobs.map((j) => j.data.runId).sort()).toEqual(Object.values(ids).sort());
    const fallbacks = async () => (await platformMetrics().batchSettleFallbacks.get()).values[0]?.value ?? 0;
    const fallbacksBefore = await fallbacks();
    // plain-a failed before: its success may close an incident, plain-b's may not.
    await t.db.insert(runRecoveries).values({ integration: 'plain-a' });
    const control = new AbortController();
    const batch = executeRunBatch(
      { db: t.db, boss, registry: buildRegistry(defs), workerId: 'batch-test', liveness },
      jobs.map((job) => ({ jobId: job.id, jobRetryCount: job.retryCount, runId: job.data.runId, control: control.signal })),
    );

    // Meanwhile: one run is cancelled while its handler runs, another's attempt is taken over.
    await waitFor('the gated handlers to start', async () => gates.cancelled.started && gates.takenOver.started);
    await t.db.update(runs).set({ status: 'cancelled' }).where(eq(runs.id, ids['cancelled-meanwhile']));
    await t.db
      .update(attempts)
      .set({ outcome: 'interrupted', finishedAt: sql`now()` })
      .where(eq(attempts.runId, ids['taken-over']));
    gates.cancelled.open();
    gates.takenOver.open();

    const settled = await batch;
    const outcome: Record<string, RunJobOutcome | string> = {};
    jobs.forEach((job, i) => {
      const result = settled[i];
      const name = Object.keys(ids).find((n) => ids[n] === job.data.runId)!;
      outcome[name] = result.status === 'fulfilled' ? result.value : `rejected: ${String(result.reason)}`;
    });
    expect(outcome).toEqual({
      'plain-a': 'succeeded',
      'plain-b': 'succeeded',
      'cancelled-meanwhile': 'cancelled',
      'taken-over': 'abandoned',
      throws: 'retrying',
      'breaker-open': 'deferred',
      'not-its-turn': 'deferred',
    });

    // The successes were recorded by the batch's shared transaction, not run by run after it failed.
    expect(await fallbacks()).toBe(fallbacksBefore);
    // Each outcome recorded once, on the rows, with the attempt's last log lines written once by it.
    for (const name of ['plain-a', 'plain-b']) {
      const run = await runRow(ids[name]);
      expect(run.status).toBe('succeeded');
      const rows = await t.db.select().from(attempts).where(eq(attempts.runId, ids[name]));
      expect(rows.map((a) => a.outcome)).toEqual(['succeeded']);
      const lines = await t.db.execute<{ level: string; message: string; data: unknown }>(
        sql`select level, message, data from attempt_logs where attempt_id = ${rows[0].id} order by id`,
      );
      expect(lines.map((l) => ({ ...l }))).toEqual([
        { level: 'info', message: expect.stringMatching(/^attempt 1 of \d+ started on batch-test$/), data: expect.anything() },
        { level: 'info', message: 'booked "1" \\ {x}', data: { run: ids[name] } },
        { level: 'warn', message: 'second line', data: null },
      ]);
    }
    expect((await runRow(ids['cancelled-meanwhile'])).status).toBe('cancelled');
    expect((await runRow(ids['taken-over'])).status).toBe('running');
    expect((await runRow(ids.throws)).status).toBe('retrying');
    expect((await runRow(ids['breaker-open'])).status).toBe('deferred');
    expect((await runRow(ids['not-its-turn'])).status).toBe('queued');
    const breakerAttempts = await t.db.select().from(attempts).where(eq(attempts.runId, ids['breaker-open']));
    expect(breakerAttempts.map((a) => [a.outcome, a.errorClass])).toEqual([['deferred', 'CircuitOpenError']]);
    expect(await t.db.select().from(attempts).where(eq(attempts.runId, ids['not-its-turn']))).toEqual([]);

    // The jobs completed with their outcome are exactly those of the settled successes; pg-boss
    // completes the others after the handler returns.
    const states = Object.fromEntries(
      await Promise.all(jobs.map(async (job) => [job.data.runId, (await boss.getJobById(RUNS_QUEUE, job.id))?.state])),
    );
    for (const [name, id] of Object.entries(ids)) {
      expect([name, states[id]]).toEqual([name, name.startsWith('plain-') ? 'completed' : 'active']);
    }
    // run.succeeded for the settled success that may close an incident, none for the others.
    const succeeded = (await platformEvents(t.db, 'run.succeeded')).map((e) => e.runId);
    expect(succeeded).toEqual([ids['plain-a']]);
    expect(await t.db.select().from(runRecoveries)).toEqual([]);
    // No attempt of this batch is left holding a liveness lock (released after the outcomes).
    await waitFor('the locks to be released', async () => {
      const [row] = await t.db.execute<{ n: number }>(
        sql`select count(*)::int as n from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`,
      );
      // The taken-over attempt's lock is released too: its worker gave it up with the 'abandoned' outcome.
      return row.n === 0;
    });
  });
});

describe('announcing successes (run.succeeded)', () => {
  /** Runs `names` now and executes their jobs as one batch; the outcome per integration. */
  async function batchOf(names: string[]) {
    const ours = new Set<string>();
    for (const integration of names) ours.add((await runNow(t.db, boss, { integration, triggeredBy: 'ada', trigger: 'api' })).runId);
    // Only this batch's jobs: a run the test above deferred may come due meanwhile (its job stays active, unused).
    const jobs = (await boss.fetch<{ runId: string }>(RUNS_QUEUE, { batchSize: 20 })).filter((job) => ours.has(job.data.runId));
    expect(jobs).toHaveLength(names.length);
    const settled = await executeRunBatch(
      { db: t.db, boss, registry: buildRegistry(defs), workerId: 'batch-test', liveness },
      jobs.map((job) => ({ jobId: job.id, jobRetryCount: job.retryCount, runId: job.data.runId, control: new AbortController().signal })),
    );
    const outcomes = await Promise.all(
      jobs.map(async (job, i) => [
        (await runRow(job.data.runId)).integration,
        settled[i].status === 'fulfilled' ? settled[i].value : 'rejected',
      ]),
    );
    for (const job of jobs) await boss.complete(RUNS_QUEUE, job.id).catch(() => {});
    return Object.fromEntries(outcomes);
  }
  const announcedRuns = async () => new Set((await platformEvents(t.db, 'run.succeeded')).map((e) => String(e.runId)));
  const succeededOf = async (integration: string) =>
    (
      await t.db
        .select({ id: runs.id })
        .from(runs)
        .where(sql`${runs.integration} = ${integration} and ${runs.status} = 'succeeded'`)
    ).map((r) => r.id);

  it('announces the first success after a failure, and a success while a run_failed incident is open, only those', async () => {
    // A failed run puts its integration on the list, with its run.failed.
    expect(await batchOf(['flaky'])).toEqual({ flaky: 'failed' });
    expect((await t.db.select().from(runRecoveries)).map((r) => r.integration)).toEqual(['flaky']);

    flaky.failing = false;
    const before = await announcedRuns();
    expect(await batchOf(['flaky', 'plain-b'])).toEqual({ flaky: 'succeeded', 'plain-b': 'succeeded' });
    const first = [...(await announcedRuns())].filter((id) => !before.has(id));
    expect(first).toEqual(await succeededOf('flaky'));
    expect(await t.db.select().from(runRecoveries)).toEqual([]);

    // The next successes close nothing: alerting would discard them.
    const quiet = await announcedRuns();
    expect(await batchOf(['flaky', 'plain-b'])).toEqual({ flaky: 'succeeded', 'plain-b': 'succeeded' });
    expect(await announcedRuns()).toEqual(quiet);

    // An incident still open (its recovery held, or opened late by alerting) hears of every success.
    await t.db.insert(incidents).values({ integration: 'plain-b', kind: 'run_failed', lastError: 'earlier' });
    expect(await batchOf(['flaky', 'plain-b'])).toEqual({ flaky: 'succeeded', 'plain-b': 'succeeded' });
    const latest = [...(await announcedRuns())].filter((id) => !quiet.has(id));
    const plainB = await succeededOf('plain-b');
    expect(latest).toHaveLength(1);
    expect(plainB).toContain(latest[0]);
  });
});

describe('a run re-queued by a recovery while its worker still meant to defer it', () => {
  it('is not given a second job: the deferral is fenced on the job the worker read, and rolled back', async () => {
    const [{ breakerKey }] = await t.db
      .select({ breakerKey: integrations.breakerKey })
      .from(integrations)
      .where(eq(integrations.name, 'plain-a'));
    await t.db
      .insert(breakers)
      .values({ key: breakerKey, state: 'open', openedAt: new Date(), openUntil: new Date(Date.now() + 60_000) })
      .onConflictDoUpdate({ target: breakers.key, set: { state: 'open', openUntil: new Date(Date.now() + 60_000) } });
    const { runId } = await runNow(t.db, boss, { integration: 'plain-a', triggeredBy: 'ada', trigger: 'api' });
    const [job] = (await boss.fetch<{ runId: string }>(RUNS_QUEUE, { batchSize: 20 })).filter((j) => j.data.runId === runId);

    // The recovery (liveness.ts) holds the run's row while this worker reads the run, finds the
    // breaker open and goes to defer it; the recovery then gives the run a new job and commits.
    const recovery = await t.db.$client.reserve();
    try {
      await recovery`begin`;
      await recovery`select id from runs where id = ${runId} for update`;
      const outcome = executeRunBatch({ db: t.db, boss, registry: buildRegistry(defs), workerId: 'batch-test', liveness }, [
        { jobId: job.id, jobRetryCount: job.retryCount, runId, control: new AbortController().signal },
      ]);
      await waitFor('the deferral to wait for the run row', async () => {
        const [row] = await t.db.execute<{ n: number }>(
          sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        );
        return row.n > 0;
      });
      const recoveredJob = randomUUID();
      await recovery`update runs set job_id = ${recoveredJob} where id = ${runId}`;
      await recovery`commit`;

      expect(await outcome).toEqual([{ status: 'fulfilled', value: 'stale' }]);
      expect(await runRow(runId)).toMatchObject({ status: 'queued', jobId: recoveredJob, attemptCount: 0 });
      // Rolled back whole: no deferred attempt recorded, no job sent besides the one delivered.
      expect(await t.db.select().from(attempts).where(eq(attempts.runId, runId))).toEqual([]);
      const [jobs] = await t.db.execute<{ n: number }>(
        sql`select count(*)::int as n from pgboss.job where name = ${RUNS_QUEUE} and data->>'runId' = ${runId}`,
      );
      expect(jobs.n).toBe(1);
    } finally {
      await recovery`rollback`.catch(() => {});
      recovery.release();
      await t.db.delete(breakers).where(eq(breakers.key, breakerKey));
    }
  });
});

describe('the usual first starts, in the statement that loads the batch (issue 18)', () => {
  const attemptsOf = async (runId: string) => t.db.select().from(attempts).where(eq(attempts.runId, runId));
  async function delivered(integration: string) {
    const { runId } = await runNow(t.db, boss, { integration, triggeredBy: 'ada', trigger: 'api' });
    const [job] = (await boss.fetch<{ runId: string }>(RUNS_QUEUE, { batchSize: 20 })).filter((j) => j.data.runId === runId);
    expect(job).toBeDefined();
    return { runId, job };
  }
  /** Ends a test's run as a success, so that the integration's next run is not behind it. */
  async function finish(runId: string, attemptId: string, jobId: string) {
    await t.db
      .update(attempts)
      .set({ outcome: 'succeeded', finishedAt: sql`now()` })
      .where(eq(attempts.runId, runId));
    await t.db
      .update(runs)
      .set({ status: 'succeeded', finishedAt: sql`now()` })
      .where(eq(runs.id, runId));
    await liveness.release(attemptId);
    await boss.complete(RUNS_QUEUE, jobId).catch(() => {});
  }

  it('starts a run only once its attempt lock is held, registered here, and once; the row it returns is the run before', async () => {
    const registry = buildRegistry([...defs, ...startDefs]);
    const { runId, job } = await delivered('started-by-load');
    const attemptId = randomUUID();
    const params = (id: string, registered = [...registry.keys()]) => ({
      ids: runId,
      input: JSON.stringify([{ run_id: runId, job_id: job.id, attempt_id: id }]),
      worker: 'batch-test',
      registered: registered.join(','),
    });
    const query = loadAndStartQuery(t.db);

    // The worker's hold has not landed: the run is read, not started.
    const [unheld] = await query.execute(params(attemptId));
    expect(unheld.run.id).toBe(runId);
    expect(unheld.startedNumber).toBeNull();
    expect(await runRow(runId)).toMatchObject({ status: 'queued', startedAt: null, attemptCount: 0 });
    expect(await attemptsOf(runId)).toEqual([]);

    await liveness.holdMany([attemptId]);
    try {
      // An integration this worker does not have is never started here.
      const [elsewhere] = await query.execute(params(attemptId, ['plain-a']));
      expect(elsewhere.startedNumber).toBeNull();
      expect(await attemptsOf(runId)).toEqual([]);

      const [loaded] = await query.execute(params(attemptId));
      expect(loaded.startedNumber).toBe(1);
      // Read from the statement's snapshot, as the runner decides on it: the run as it was.
      expect(loaded.run).toMatchObject({ status: 'queued', startedAt: null, attemptCount: 0 });
      expect(loaded.openAttemptId).toBeNull();
      expect(await runRow(runId)).toMatchObject({ status: 'running', attemptCount: 1 });
      expect((await runRow(runId)).startedAt).not.toBeNull();
      expect((await attemptsOf(runId)).map((a) => [a.id, a.number, a.outcome, a.jobId, a.worker])).toEqual([
        [attemptId, 1, 'running', job.id, 'batch-test'],
      ]);

      // The same delivery loaded again, its new attempt's lock held too: started already, so not again.
      const second = randomUUID();
      await liveness.holdMany([second]);
      const [again] = await query.execute(params(second));
      expect(again.startedNumber).toBeNull();
      expect(again.openAttemptId).toBe(attemptId);
      expect(await attemptsOf(runId)).toHaveLength(1);
      await liveness.release(second);
    } finally {
      await finish(runId, attemptId, job.id);
    }
  });

  it('starts nothing outside the usual first start, whatever else the run looks like, lock held', async () => {
    const registry = buildRegistry([...defs, ...startDefs]);
    const { runId, job } = await delivered('started-by-load');
    const [{ breakerKey }] = await t.db
      .select({ breakerKey: integrations.breakerKey })
      .from(integrations)
      .where(eq(integrations.name, 'started-by-load'));
    const query = loadAndStartQuery(t.db);
    const attemptId = randomUUID();
    const load = (jobId = job.id) =>
      query.execute({
        ids: runId,
        input: JSON.stringify([{ run_id: runId, job_id: jobId, attempt_id: attemptId }]),
        worker: 'batch-test',
        registered: [...registry.keys()].join(','),
      });
    await liveness.holdMany([attemptId]);
    // Each case changes one thing on the run (or around it), is loaded, then put back.
    const cases: [string, () => Promise<unknown>, () => Promise<unknown>][] = [
      [
        'a dry-run',
        () => t.db.update(runs).set({ dryRun: true }).where(eq(runs.id, runId)),
        () => t.db.update(runs).set({ dryRun: false }).where(eq(runs.id, runId)),
      ],
      [
        'an operator retry',
        () => t.db.update(runs).set({ trigger: 'retry' }).where(eq(runs.id, runId)),
        () => t.db.update(runs).set({ trigger: 'api' }).where(eq(runs.id, runId)),
      ],
      [
        'no attempt left',
        () => t.db.update(runs).set({ maxAttempts: 0 }).where(eq(runs.id, runId)),
        () => t.db.update(runs).set({ maxAttempts: 3 }).where(eq(runs.id, runId)),
      ],
      [
        'cancelled',
        () => t.db.update(runs).set({ status: 'cancelled' }).where(eq(runs.id, runId)),
        () => t.db.update(runs).set({ status: 'queued' }).where(eq(runs.id, runId)),
      ],
      [
        'its breaker open',
        () =>
          t.db.insert(breakers).values({ key: breakerKey, state: 'open', openedAt: new Date(), openUntil: new Date(Date.now() + 60_000) }),
        () => t.db.delete(breakers).where(eq(breakers.key, breakerKey)),
      ],
      [
        'an earlier run of its integration still waiting',
        () =>
          t.db
            .execute(sql`insert into runs (id, integration, trigger, dry_run, status, triggered_by, correlation_id, attempt_count, max_attempts, created_at)
            values (gen_random_uuid(), 'started-by-load', 'api', false, 'queued', 'ada', 'c', 0, 3, now() - interval '1 minute')`),
        () => t.db.execute(sql`delete from runs where integration = 'started-by-load' and id <> ${runId} and status = 'queued'`),
      ],
    ];
    try {
      for (const [label, change, restore] of cases) {
        await change();
        try {
          const [row] = await load();
          expect([label, row.startedNumber]).toEqual([label, null]);
        } finally {
          await restore();
        }
        expect([label, await attemptsOf(runId)]).toEqual([label, []]);
      }
      // A job that is not the run's own (a stale delivery) starts nothing either.
      const [stale] = await load(randomUUID());
      expect(stale.startedNumber).toBeNull();
      expect(await attemptsOf(runId)).toEqual([]);
      // Put back as it was, the run starts: every case above was refused for its own reason.
      const [row] = await load();
      expect(row.startedNumber).toBe(1);
    } finally {
      await finish(runId, attemptId, job.id);
    }
  });

  it('leaves a usual start it does not take (a half-open breaker) to the start statement, and both runs succeed once', async () => {
    const [{ breakerKey }] = await t.db
      .select({ breakerKey: integrations.breakerKey })
      .from(integrations)
      .where(eq(integrations.name, 'half-open'));
    // Half open with no trial running: a run may start (its first request would be the trial).
    await t.db.insert(breakers).values({ key: breakerKey, state: 'half_open', openedAt: new Date() });
    try {
      const usual = await delivered('started-by-load');
      const trial = await delivered('half-open');
      // The runs the separate start statement is sent for.
      const starts: string[] = [];
      const client = new Proxy(t.db.$client, {
        get(target, prop, receiver) {
          if (prop !== 'unsafe') return Reflect.get(target, prop, receiver);
          return (text: string, parameters: unknown[], options: unknown) => {
            if (text === START_BATCH_SQL) starts.push(...(JSON.parse(String(parameters[0])) as { run_id: string }[]).map((r) => r.run_id));
            return target.unsafe(text, parameters as never, options as never);
          };
        },
      });
      const db = new Proxy(t.db, { get: (target, prop, receiver) => (prop === '$client' ? client : Reflect.get(target, prop, receiver)) });
      const deps: RunnerDeps = { db, boss, registry: buildRegistry([...defs, ...startDefs]), workerId: 'batch-test', liveness };
      const jobs = [usual.job, trial.job];
      const settled = await executeRunBatch(
        deps,
        jobs.map((job) => ({ jobId: job.id, jobRetryCount: job.retryCount, runId: job.data.runId, control: new AbortController().signal })),
      );
      expect(settled.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason)))).toEqual(['succeeded', 'succeeded']);
      // The half-open integration's run needed the start statement. The other started with its load
      // unless the worker's hold landed after it (a race the first test takes out).
      expect(starts).toContain(trial.runId);
      expect(starts.filter((id) => id === usual.runId).length).toBeLessThanOrEqual(1);
      for (const { runId } of [usual, trial]) {
        expect(await runRow(runId)).toMatchObject({ status: 'succeeded', attemptCount: 1 });
        expect((await attemptsOf(runId)).map((a) => [a.number, a.outcome])).toEqual([[1, 'succeeded']]);
      }
    } finally {
      await t.db.delete(breakers).where(eq(breakers.key, breakerKey));
    }
  });
});

describe('the batch settle on the wire', () => {
  // pg-boss's statements inside the settle were sent unprepared, so PostgreSQL parsed and planned
  // the jobs' completion at every fetch (~0.46 ms of its CPU each: issue 18).
  it('prepares the jobs’ completion it writes for pg-boss, and settles the batch with it', async () => {
    // One connection, so its prepared statements are the settle's.
    const single = connect(t.url, { max: 1, name: 'batch-test-single' });
    try {
      const ours = new Set<string>();
      for (const integration of ['wire-a', 'wire-b'])
        ours.add((await runNow(t.db, boss, { integration, triggeredBy: 'ada', trigger: 'api' })).runId);
      const jobs = (await boss.fetch<{ runId: string }>(RUNS_QUEUE, { batchSize: 20 })).filter((job) => ours.has(job.data.runId));
      expect(jobs).toHaveLength(2);
      const settled = await executeRunBatch(
        { db: single, boss, registry: buildRegistry(wireDefs), workerId: 'batch-test', liveness },
        jobs.map((job) => ({ jobId: job.id, jobRetryCount: job.retryCount, runId: job.data.runId, control: new AbortController().signal })),
      );
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled']);
      for (const id of ours) expect((await runRow(id)).status).toBe('succeeded');
      const states = await t.db.execute<{ state: string }>(
        sql`select state from pgboss.job where id in (${sql.join(
          jobs.map((j) => sql`${j.id}::uuid`),
          sql`, `,
        )})`,
      );
      expect(states.map((s) => s.state)).toEqual(['completed', 'completed']);
      const prepared = await single.execute<{ statement: string }>(sql`select statement from pg_prepared_statements`);
      expect(prepared.some((p) => /update\s+pgboss\.job_common\s+set\s+completed_on/i.test(p.statement))).toBe(true);
    } finally {
      await disconnect(single);
    }
  });
});
