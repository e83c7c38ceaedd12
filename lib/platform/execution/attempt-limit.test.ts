import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attemptLogs } from '../../../db/schema';
import {
  platformEvents,
  runQueries,
  startTestPlatform,
  TEST_WORKER_OPTIONS,
  waitFor,
  type TestPlatform,
} from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { runNow } from '../triggers/triggers';

/**
 * A handler that never returns while its worker stays alive (it awaits a promise that never
 * settles, and ignores ctx.signal): the liveness lock proves the worker alive, so only a time
 * limit per attempt ends the attempt. Without one, the attempt stayed 'running' for ever, its run
 * never retried and never failed (no alert), and every later run of the integration waited behind
 * it; pg-boss's job expiry only aborted ctx.signal (as a bare AbortError) and re-delivered a job
 * that the runner then skipped because the attempt's lock was still held.
 */

/** What the stray first attempt of the 'hangs' run did once the test let it go on, after the platform stopped waiting for it. */
const stray: { checkpoint?: string; tx?: string; returned?: boolean } = {};
const strayGate = Promise.withResolvers<void>();
const signalReasons: string[] = [];

const defs = [
  defineIntegration({
    name: 'hangs',
    description: 'Its first attempt of a run triggered by "hang" never returns until the test lets it',
    settings: z.object({}),
    defaults: { retry: { delays: ['1s'] }, attemptTimeout: '1s' },
    async execute(ctx) {
      if (ctx.run.triggeredBy === 'hang' && ctx.run.attempt === 1) {
        ctx.signal.addEventListener('abort', () => signalReasons.push(String((ctx.signal.reason as Error).message)));
        await strayGate.promise; // ignores ctx.signal
        // The platform stopped waiting for this attempt: none of what it writes may land.
        await ctx.cursor.checkpoint({ from: 'stray' }).catch((error: Error) => (stray.checkpoint = error.message));
        await ctx
          .tx((tx) => tx.execute(sql`insert into host_rows (note) values ('stray')`))
          .catch((error: Error) => (stray.tx = error.message));
        stray.returned = true;
        return { summary: 'stray result' };
      }
      await ctx.cursor.checkpoint({ from: `attempt ${ctx.run.attempt}` });
      await ctx.tx((tx) => tx.execute(sql`insert into host_rows (note) values (${`${ctx.run.triggeredBy} attempt ${ctx.run.attempt}`})`));
      return { summary: `returned on attempt ${ctx.run.attempt}` };
    },
  }),
  defineIntegration({
    name: 'cooperates',
    description: 'Waits for ctx.signal and throws its reason, every attempt',
    settings: z.object({}),
    defaults: { retry: { delays: ['1s'] }, attemptTimeout: '1s' },
    async execute(ctx) {
      await new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      return {};
    },
  }),
] as IntegrationDefinition[];

let p: TestPlatform;
beforeAll(async () => {
  // pg-boss's expiry far away: only the platform's time limit can end the attempts.
  p = await startTestPlatform(defs, {
    workerId: 'limit-worker',
    concurrency: 2,
    options: { ...TEST_WORKER_OPTIONS, attemptTimeoutGraceMs: 500, queue: { ...TEST_WORKER_OPTIONS.queue, expireInSeconds: 600 } },
  });
  await p.t.db.execute(sql`create table host_rows (id serial primary key, note text not null)`);
});
afterAll(async () => {
  strayGate.resolve();
  await p?.stop();
});

const { runRow, attemptRows, finished } = runQueries(() => p.t.db);

describe('an attempt over its time limit', () => {
  it('whose handler never returns: failed with the limit, the turn released, the run retried; its late writes are refused', async () => {
    const { t, boss } = p;
    const hung = await runNow(t.db, boss, { integration: 'hangs', triggeredBy: 'hang' });
    const behind = await runNow(t.db, boss, { integration: 'hangs', triggeredBy: 'ada', trigger: 'api' });

    const run = await finished(hung.runId);
    expect(run).toMatchObject({ status: 'succeeded', attemptCount: 2, result: { summary: 'returned on attempt 2' } });
    const rows = await attemptRows(hung.runId);
    expect(rows.map((a) => [a.number, a.outcome, a.errorClass])).toEqual([
      [1, 'failed', 'AttemptTimeoutError'],
      [2, 'succeeded', null],
    ]);
    expect(rows[0].errorMessage).toMatch(/^attempt 1 exceeded its time limit of 1s /);
    expect(rows[0].errorMessage).toMatch(/did not return within 500ms after it: the platform stopped waiting for it/);
    // The retry came after the integration's delay, as for any transient failure.
    expect(rows[1].startedAt.getTime() - rows[0].finishedAt!.getTime()).toBeGreaterThanOrEqual(1_000);
    expect(signalReasons).toEqual([expect.stringMatching(/^attempt 1 exceeded its time limit of 1s/)]);
    const logs = await t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, rows[0].id));
    expect(logs.map((l) => l.message)).toContainEqual(expect.stringMatching(/^attempt 1 failed: attempt 1 exceeded its time limit of 1s/));

    // The run requested behind it was not held up for ever.
    expect(await finished(behind.runId)).toMatchObject({ status: 'succeeded', attemptCount: 1 });

    // The stray handler goes on now: its checkpoint and host transaction are refused, its result ignored.
    strayGate.resolve();
    await waitFor('the stray handler to return', () => stray.returned);
    expect(stray.checkpoint).toMatch(/no longer owns the run/);
    expect(stray.tx).toMatch(/no longer owns the run/);
    const notes = (await t.db.execute<{ note: string }>(sql`select note from host_rows order by id`)).map((r) => r.note);
    expect(notes).toEqual(['hang attempt 2', 'ada attempt 1']);
    expect(await runRow(hung.runId)).toMatchObject({
      status: 'succeeded',
      result: { summary: 'returned on attempt 2' },
      checkpoint: { from: 'attempt 2' },
    });
  }, 60_000);

  it('whose handler stops on ctx.signal: failed with the limit at once; the retries used up fail the run with one run.failed', async () => {
    const { t, boss } = p;
    const { runId } = await runNow(t.db, boss, { integration: 'cooperates', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({ status: 'failed', attemptCount: 2, errorClass: 'AttemptTimeoutError' });
    expect(run.errorMessage).toMatch(/^attempt 2 exceeded its time limit of 1s /);
    expect(run.errorMessage).not.toMatch(/stopped waiting/);
    const rows = await attemptRows(runId);
    expect(rows.map((a) => [a.number, a.outcome, a.errorClass])).toEqual([
      [1, 'failed', 'AttemptTimeoutError'],
      [2, 'failed', 'AttemptTimeoutError'],
    ]);
    // Ended at the limit, not after the grace: an attempt abandoned after the grace says the
    // platform stopped waiting; these do not. (Their durations are not compared with a bound: a
    // loaded machine stretches them past limit + grace without anything being wrong.) None ended
    // before its limit.
    for (const a of rows) {
      expect(a.errorMessage).not.toMatch(/stopped waiting/);
      expect(a.finishedAt!.getTime() - a.startedAt.getTime()).toBeGreaterThanOrEqual(1_000);
    }
    const failed = (await platformEvents(t.db, 'run.failed')).filter((e) => e.runId === runId);
    expect(failed).toEqual([expect.objectContaining({ reason: 'retries_exhausted', errorClass: 'AttemptTimeoutError' })]);
  }, 60_000);
});
