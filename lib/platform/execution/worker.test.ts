import { randomUUID } from 'node:crypto';
import { asc, eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attempts, integrations, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { spawnChildWorker, type ChildWorker } from '../../../test/fixtures/child-worker';
import { startTestServer, type TestServer } from '../../../test/fixtures/http-server';
import { fixtureIntegrations } from '../../../test/fixtures/integrations';
import { platformEvents, startTestBoss, TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
import { waitForRun } from '../../../test/fixtures/shipped-integrations';
import { buildRegistry, syncRegistry } from '../registry';
import { runNow } from '../triggers/triggers';
import { startLiveness } from './liveness';
import { RUNS_QUEUE, sendRunJob } from './queue';
import { startPlatformWorker, type PlatformWorker } from './worker';

let t: TestDatabase;
let boss: PgBoss;
let server: TestServer;
let child: ChildWorker | undefined;
let survivor: PlatformWorker | undefined;
const registry = buildRegistry(fixtureIntegrations);

/** The worker that outlives a killed one, with a job expiry far beyond the test: only the liveness sweep can notice the kill. */
function startSurvivor() {
  return startPlatformWorker({
    db: t.db,
    boss,
    registry,
    workerId: 'survivor',
    options: { ...TEST_WORKER_OPTIONS, queue: { ...TEST_WORKER_OPTIONS.queue, expireInSeconds: 600 } },
  });
}

beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  server = await startTestServer((_req, res) => res.end('{}'));
  await syncRegistry(t.db, { registry });
  await t.db.update(integrations).set({ settings: { baseUrl: server.url } });
});
afterAll(async () => {
  await child?.kill();
  await survivor?.stop({ timeoutMs: 2_000 });
  await boss.stop({ graceful: false });
  await server.close();
  await t.drop();
});

describe('a worker killed mid-attempt', () => {
  it('is noticed by another worker without waiting for the job to expire; the run goes on with the same attempt number', async () => {
    // A 10-minute expiry: only the liveness lock can tell the survivor that the attempt's worker is gone.
    child = await spawnChildWorker(t.url, 'doomed', { EXPIRE_SECONDS: '600' });
    const { runId } = await runNow(t.db, boss, { integration: 'slow-once', triggeredBy: 'ada' });
    await waitFor('the child to start the first attempt', async () => server.requests.some((r) => r.path === '/started'), 30_000);
    const [running] = await t.db.select().from(attempts).where(eq(attempts.runId, runId));
    expect(running).toMatchObject({ number: 1, outcome: 'running', worker: 'doomed' });

    await child.kill(); // kill -9: no shutdown code runs
    expect(child.process.signalCode).toBe('SIGKILL');
    survivor = await startSurvivor();

    const run = await waitFor(
      'the run to complete on the surviving worker',
      async () => {
        const [row] = await t.db.select().from(runs).where(eq(runs.id, runId));
        return row.status === 'succeeded' ? row : undefined;
      },
      40_000,
    );
    // The kill used no attempt: the run finished on attempt 1, with one interruption recorded.
    expect(run).toMatchObject({ attemptCount: 1, interruptions: 1, result: { summary: 'finished on attempt 1' } });
    const rows = await t.db.select().from(attempts).where(eq(attempts.runId, runId)).orderBy(asc(attempts.startedAt));
    expect(rows.map((a) => [a.number, a.outcome, a.worker, a.errorClass])).toEqual([
      [1, 'interrupted', 'doomed', 'WorkerLost'],
      [1, 'succeeded', 'survivor', null],
    ]);
    expect(rows[0].errorMessage).toMatch(
      /^worker lost: doomed stopped .*noticed by survivor\. This interruption did not use up an attempt/,
    );
    // The dead worker's job was cancelled by the recovery (an expiry would have failed it), freeing the integration's slot.
    const [job] = await t.db.execute<{ state: string }>(sql`select state from pgboss.job where id = ${rows[0].jobId}`);
    expect(job.state).toBe('cancelled');
    expect(rows.filter((a) => a.outcome === 'succeeded')).toHaveLength(1);
    expect(server.requests.filter((r) => r.path === '/done')).toHaveLength(1);
  }, 120_000);
});

describe('a worker killed while the platform gives a handler that ignores its time limit its grace', () => {
  it('leaves the run recoverable as before: another worker notices, and the run goes on with the same attempt number', async () => {
    await survivor?.stop({ timeoutMs: 2_000 });
    survivor = undefined;
    // A minute of grace: the kill lands inside it, with ctx.signal aborted and the attempt still 'running'.
    child = await spawnChildWorker(t.url, 'graceful', { EXPIRE_SECONDS: '600', ATTEMPT_GRACE_MS: '60000' });
    const { runId } = await runNow(t.db, boss, { integration: 'ignores-limit', triggeredBy: 'ada' });
    await waitFor('the time limit to abort ctx.signal', async () => server.requests.some((r) => r.path === '/aborted'), 30_000);
    const [running] = await t.db.select().from(attempts).where(eq(attempts.runId, runId));
    expect(running).toMatchObject({ number: 1, outcome: 'running', worker: 'graceful' });

    await child.kill();
    survivor = await startSurvivor();
    const run = await waitForRun(t.db, runId, ['succeeded'], 40_000);
    expect(run).toMatchObject({ attemptCount: 1, interruptions: 1, result: { summary: 'finished on attempt 1' } });
    const rows = await t.db.select().from(attempts).where(eq(attempts.runId, runId)).orderBy(asc(attempts.startedAt));
    expect(rows.map((a) => [a.number, a.outcome, a.worker, a.errorClass])).toEqual([
      [1, 'interrupted', 'graceful', 'WorkerLost'],
      [1, 'succeeded', 'survivor', null],
    ]);
  }, 120_000);
});

describe('a run that keeps killing its worker', () => {
  it('fails once its interruptions reach the cap, with reason interrupted and one run.failed', async () => {
    await survivor?.stop({ timeoutMs: 2_000 });
    survivor = undefined;
    const { runId } = await runNow(t.db, boss, { integration: 'crashes-worker', triggeredBy: 'ada' });
    const env = { EXPIRE_SECONDS: '600', MAX_INTERRUPTIONS: '2' };
    // Each child takes the run and dies in it; the next child's liveness sweep notices and re-queues it.
    const children: ChildWorker[] = [];
    const run = await waitFor(
      'the run to fail',
      async () => {
        const [row] = await t.db.select().from(runs).where(eq(runs.id, runId));
        if (row.status === 'failed') return row;
        if (children.every((c) => c.process.signalCode !== null))
          children.push(await spawnChildWorker(t.url, `poisoned-${children.length + 1}`, env));
        return undefined;
      },
      240_000,
      500,
    );
    await Promise.all(children.map((c) => c.kill()));
    expect(run).toMatchObject({ status: 'failed', attemptCount: 0, interruptions: 2, errorClass: 'WorkerLost' });
    expect(run.errorMessage).toMatch(/^interrupted 2 times \(the cap is 2\): the run keeps stopping the workers that execute it/);
    const rows = await t.db.select().from(attempts).where(eq(attempts.runId, runId)).orderBy(asc(attempts.startedAt));
    expect(rows.map((a) => [a.number, a.outcome, a.errorClass])).toEqual([
      [1, 'interrupted', 'WorkerLost'],
      [1, 'interrupted', 'WorkerLost'],
    ]);
    const failed = (await platformEvents(t.db, 'run.failed')).filter((e) => e.runId === runId);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ reason: 'interrupted', errorClass: 'WorkerLost' });
  }, 300_000);
});

describe('a worker killed after it was handed a job, with no attempt running', () => {
  // A 10-minute expiry and no pg-boss heartbeat: only the job's liveness lock can tell that the
  // worker holding the job is gone. The "dead worker" is a plain fetch: the job goes active and
  // nothing ever holds its lock or completes it, as after a kill -9 between the fetch and the
  // attempt, or between a failed attempt's commit and its job's completion.
  const options = {
    ...TEST_WORKER_OPTIONS,
    livenessIntervalMs: 200,
    orphanedJobGraceMs: 1_000,
    queue: { ...TEST_WORKER_OPTIONS.queue, expireInSeconds: 600 },
  };
  /** No worker running; a run requested and its job fetched by a "worker" that never holds or completes it. */
  const runWithFetchedJob = async () => {
    await survivor?.stop({ timeoutMs: 2_000 });
    survivor = undefined;
    const { runId } = await runNow(t.db, boss, { integration: 'slow-once', triggeredBy: 'ada' });
    const [job] = await boss.fetch<{ runId: string }>(RUNS_QUEUE);
    expect(job.data.runId).toBe(runId);
    return { runId, job };
  };
  const jobState = async (id: string) =>
    (await t.db.execute<{ state: string }>(sql`select state from pgboss.job where id = ${id}`))[0]?.state;

  it('before the attempt: the job is cancelled and the run re-queued at once, no attempt used', async () => {
    const { runId, job: orphan } = await runWithFetchedJob();
    expect(await jobState(orphan.id)).toBe('active');

    survivor = await startPlatformWorker({ db: t.db, boss, registry, workerId: 'sweeper', options });
    const run = await waitForRun(t.db, runId, ['succeeded'], 30_000);
    expect(run).toMatchObject({ attemptCount: 1, interruptions: 0 });
    expect(run.jobId).not.toBe(orphan.id);
    expect(await jobState(orphan.id)).toBe('cancelled');
    const rows = await t.db.select().from(attempts).where(eq(attempts.runId, runId));
    expect(rows.map((a) => [a.number, a.outcome, a.worker])).toEqual([[1, 'succeeded', 'sweeper']]);
  }, 60_000);

  it('after the run moved on (a retry queued behind the dead job): the job is cancelled and the retry runs', async () => {
    const { runId, job: orphan } = await runWithFetchedJob();
    // What a failed attempt's transaction leaves: the run retrying on a new job, due now, which
    // the queue holds back while the integration's dead job is active.
    const retryJob = randomUUID();
    await t.db.transaction(async (tx) => {
      await tx.update(runs).set({ status: 'retrying', jobId: retryJob }).where(eq(runs.id, runId));
      await sendRunJob(boss, tx, { runId, jobId: retryJob, integration: 'slow-once' });
    });

    survivor = await startPlatformWorker({ db: t.db, boss, registry, workerId: 'sweeper-2', options });
    const run = await waitForRun(t.db, runId, ['succeeded'], 30_000);
    expect(run.jobId).toBe(retryJob);
    expect(await jobState(orphan.id)).toBe('cancelled');
    expect(await jobState(retryJob)).toBe('completed');
  }, 60_000);

  it('leaves alone a job whose worker holds its lock, however long it has been active', async () => {
    const { runId, job } = await runWithFetchedJob();
    // A live worker handed the job: its lock on its own liveness session, as the worker takes it.
    const holder = await startLiveness({ db: t.db, boss, workerId: 'holder', intervalMs: 60_000, onSessionLost: () => {} });
    holder.holdJobs([job.id]);
    survivor = await startPlatformWorker({ db: t.db, boss, registry, workerId: 'sweeper-3', options });
    // Many sweeps past the grace period.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await jobState(job.id)).toBe('active');
    const [held] = await t.db.select().from(runs).where(eq(runs.id, runId));
    expect(held).toMatchObject({ status: 'queued', attemptCount: 0, jobId: job.id });

    // Its worker stops without completing it (as a kill would): the sweep takes it now.
    await holder.stop();
    const run = await waitForRun(t.db, runId, ['succeeded'], 30_000);
    expect(run).toMatchObject({ attemptCount: 1, interruptions: 0 });
    expect(await jobState(job.id)).toBe('cancelled');
  }, 60_000);
});
