import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { runQueries, startTestPlatform, TEST_WORKER_OPTIONS, waitFor, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { cancelRun, runNow } from '../triggers/triggers';

/**
 * An attempt the platform stops waiting for (its handler ignored ctx.signal past the grace, after
 * its time limit or an operator's cancel) must hold nothing. A handler stuck inside ctx.tx kept its
 * connection and row locks: the next run of the integration blocked behind them, for as long as
 * the handler was stuck. A cancel the handler ignored kept the attempt 'running', and the
 * integration's turn held, until the handler returned (up to the whole time limit).
 */

const GRACE_MS = 500;
/** Set by the handlers stuck in their host transaction once they hold the row lock. */
const locked = new Set<string>();
/** Never settles: the handlers that hang wait on it, ignoring ctx.signal. */
const forever = new Promise<never>(() => {});

const hangsInTx = (name: string, attemptTimeout: string) =>
  defineIntegration({
    name,
    description: 'A run triggered by "hang" or "sleep" takes a row lock in its host transaction and never returns',
    settings: z.object({}),
    defaults: { retry: { delays: [] }, attemptTimeout },
    async execute(ctx) {
      const how = ctx.run.triggeredBy;
      await ctx.tx(async (tx) => {
        await tx.execute(sql`update host_rows set note = ${`${how} ${ctx.run.id}`} where id = 1`);
        await tx.execute(sql`insert into host_log (note) values (${`${how} ${ctx.run.id}`})`);
        if (how === 'hang' || how === 'sleep') {
          locked.add(ctx.run.id);
          if (how === 'sleep') await tx.execute(sql`select pg_sleep(3600)`);
          else await forever;
        }
      });
      return { summary: `wrote as ${how}` };
    },
  });

const defs = [hangsInTx('stuck-in-tx', '1s'), hangsInTx('ignores-cancel', '1h')] as IntegrationDefinition[];

let p: TestPlatform;
beforeAll(async () => {
  p = await startTestPlatform(defs, {
    workerId: 'abandon-worker',
    concurrency: 2,
    options: { ...TEST_WORKER_OPTIONS, attemptTimeoutGraceMs: GRACE_MS, queue: { ...TEST_WORKER_OPTIONS.queue, expireInSeconds: 600 } },
  });
  // The host's tables, made by the admin: with TEST_DB_ROLE=runtime the test connects as the
  // least-privilege runtime role, which may not create tables (and, not a superuser, may only end
  // its own role's sessions, which is what the retirement of an attempt relies on).
  const url = new URL(inject('adminUrl'));
  url.pathname = `/${p.t.name}`;
  const admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`
      create table host_rows (id int primary key, note text not null);
      create table host_log (id serial primary key, note text not null);
      insert into host_rows values (1, 'initial');
      grant select, insert, update, delete on host_rows, host_log to public;
      grant usage on sequence host_log_id_seq to public;`);
  } finally {
    await admin.end();
  }
});
afterAll(async () => {
  await p?.stop();
});

const hostLog = async () => (await p.t.db.execute<{ note: string }>(sql`select note from host_log order by id`)).map((r) => r.note);
/** The sessions still running a statement or a transaction of `runId`'s handler. */
const sessionsOf = async (runId: string) =>
  p.t.db.execute<{ pid: number }>(sql`
    select pid from pg_stat_activity where pid <> pg_backend_pid() and xact_start is not null and query like ${`%${runId}%`}`);

const { attemptRows, finished } = runQueries(() => p.t.db);

describe('an attempt the platform stopped waiting for', () => {
  for (const how of ['hang', 'sleep'] as const) {
    it(`over its time limit, stuck in its host transaction (${how === 'hang' ? 'waiting forever' : 'pg_sleep'}): the transaction is ended, and the next run takes the row lock`, async () => {
      const { t, boss } = p;
      const stuck = await runNow(t.db, boss, { integration: 'stuck-in-tx', triggeredBy: how });
      const next = await runNow(t.db, boss, { integration: 'stuck-in-tx', triggeredBy: 'ada', trigger: 'api' });
      await waitFor('the handler to hold the row lock', () => locked.has(stuck.runId), 20_000);

      expect(await finished(stuck.runId)).toMatchObject({ status: 'failed', errorClass: 'AttemptTimeoutError' });
      const [attempt] = await attemptRows(stuck.runId);
      expect(attempt.errorMessage).toMatch(/did not return within 500ms after it: the platform stopped waiting for it/);
      // The next run took the same row lock and committed; the stuck transaction committed nothing.
      expect(await finished(next.runId, 20_000)).toMatchObject({ status: 'succeeded', result: { summary: 'wrote as ada' } });
      const [row] = await t.db.execute<{ note: string }>(sql`select note from host_rows where id = 1`);
      expect(row.note).toBe(`ada ${next.runId}`);
      expect(await hostLog()).toContain(`ada ${next.runId}`);
      expect(await hostLog()).not.toContain(`${how} ${stuck.runId}`);
      // Its session is gone: no backend is left in that transaction.
      expect(await sessionsOf(stuck.runId)).toEqual([]);
    }, 60_000);
  }

  it('cancelled while its handler ignores ctx.signal: cancelled after the grace, the turn released, its transaction ended', async () => {
    const { t, boss } = p;
    const stuck = await runNow(t.db, boss, { integration: 'ignores-cancel', triggeredBy: 'hang' });
    const next = await runNow(t.db, boss, { integration: 'ignores-cancel', triggeredBy: 'ada', trigger: 'api' });
    await waitFor('the handler to hold the row lock', () => locked.has(stuck.runId), 20_000);

    const cancelledAt = Date.now();
    await cancelRun(t.db, boss, { runId: stuck.runId, by: 'grace' });
    const run = await finished(stuck.runId, 20_000);
    const note =
      /^cancelled by grace: ctx\.signal was aborted but the handler did not stop within 500ms: the platform stopped waiting for it/;
    expect(run).toMatchObject({ status: 'cancelled', errorClass: 'Cancelled' });
    expect(run.errorMessage).toMatch(note);
    const rows = await attemptRows(stuck.runId);
    expect(rows.map((a) => [a.number, a.outcome, a.errorClass])).toEqual([[1, 'cancelled', 'Cancelled']]);
    expect(rows[0].errorMessage).toMatch(note);

    // The next run of the integration started within the grace and a margin (the cancel poll, a
    // fetch), not after the handler's hour-long time limit, and took the row lock it held.
    const behind = await finished(next.runId, 20_000);
    expect(behind).toMatchObject({ status: 'succeeded', result: { summary: 'wrote as ada' } });
    expect(behind.startedAt!.getTime() - cancelledAt).toBeLessThan(GRACE_MS + 5_000);
    expect(await hostLog()).not.toContain(`hang ${stuck.runId}`);
    expect(await sessionsOf(stuck.runId)).toEqual([]);
  }, 60_000);
});
