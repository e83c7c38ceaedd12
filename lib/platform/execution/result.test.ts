import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { attemptLogs } from '../../../db/schema';
import { runQueries, startTestPlatform, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { SecretRedactor } from '../redaction';
import { runNow } from '../triggers/triggers';
import { storableResult } from './result';

/**
 * A handler's result that is not plain JSON. With a secret set, the scrub of a result that refers
 * to itself recursed until the stack overflowed after the handler had returned: the attempt was
 * taken for an interrupted one, the handler ran again ten times (its side effects with it), and
 * the run failed as "database unavailable". The result is stored with "[Circular]" and the run
 * succeeds in one attempt; the log says what was changed.
 */

let executions = 0;
const defs = [
  defineIntegration({
    name: 'returns-a-cycle',
    description: 'Returns a result that refers to itself, with a secret set',
    settings: z.object({}),
    secrets: ['apiKey'],
    async execute(ctx) {
      executions++;
      const result: Record<string, unknown> = { processed: 3, summary: `booked with ${ctx.secrets.apiKey}` };
      result.self = result;
      result.batches = [{ id: 1 }, { id: 2 }];
      (result.batches as Record<string, unknown>[])[1].run = result;
      return result as never;
    },
  }),
  defineIntegration({
    name: 'has-a-bug',
    description: 'Throws a TypeError from a function of its own',
    settings: z.object({}),
    defaults: { retry: { delays: [] } },
    async execute() {
      return readTotal(undefined);
    },
  }),
  defineIntegration({
    name: 'refused-at-finish',
    description: 'Succeeds, but the database refuses to record it (a trigger quoting its secret)',
    settings: z.object({}),
    secrets: ['apiKey'],
    async execute() {
      return { processed: 1 };
    },
  }),
] as IntegrationDefinition[];

function readTotal(invoice: { total: number } | undefined): { processed: number } {
  return { processed: invoice!.total };
}

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(defs, {
    workerId: 'result-worker',
    concurrency: 1,
    secrets: { read: async (_integration, names) => Object.fromEntries(names.map((n) => [n, `sk-${n}-0042`])) },
  });
});
afterAll(() => platform?.stop());

const { attemptRows, finished } = runQueries(() => platform.t.db);

describe("a handler's result that is not plain JSON", () => {
  it('is stored with [Circular] where it refers to itself, scrubbed, in one attempt, and the log says so', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'returns-a-cycle', triggeredBy: 'ada' });
    const run = await finished(runId, 30_000);
    expect(run).toMatchObject({ status: 'succeeded', attemptCount: 1, interruptions: 0 });
    expect(executions).toBe(1);
    expect(run.result).toEqual({
      processed: 3,
      summary: 'booked with [redacted]',
      self: '[Circular]',
      batches: [{ id: 1 }, { id: 2, run: '[Circular]' }],
    });
    const [attempt] = await attemptRows(runId);
    const logs = await platform.t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, attempt.id)).orderBy(asc(attemptLogs.id));
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: `the handler's result refers to itself (at 'self', 'run'): stored with "[Circular]" there; return plain JSON`,
      }),
    );
  });
});

describe("a handler's own error", () => {
  it('is logged with where it was thrown, so a bug in a handler names its file and line', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'has-a-bug', triggeredBy: 'ada' });
    const run = await finished(runId, 30_000);
    expect(run).toMatchObject({ status: 'failed', attemptCount: 1 });
    const [attempt] = await attemptRows(runId);
    expect(attempt.errorClass).toBe('TypeError');
    const logs = await platform.t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, attempt.id)).orderBy(asc(attemptLogs.id));
    const thrown = logs.find((l) => l.message.startsWith('thrown at:'));
    expect(thrown?.level).toBe('error');
    expect(thrown?.message.split('\n')[1]).toMatch(/^at readTotal \(.*result\.test\.ts:\d+:\d+\)$/);
  });
});

describe('a failure of the platform while recording an attempt', () => {
  it("reaches the worker's log scrubbed of the attempt's secrets", async () => {
    // The database refusing the success, quoting a secret the way a driver may quote what it was sent.
    const db = platform.t.db;
    await db.execute(sql`create or replace function refuse_success() returns trigger language plpgsql as $$
      begin
        if new.integration = 'refused-at-finish' and new.status = 'succeeded' then
          raise exception 'refused to record a run holding sk-apiKey-0042';
        end if;
        return new;
      end $$`);
    await db.execute(sql`create trigger refuse_success before update on runs for each row execute function refuse_success()`);
    const printed: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' ')));
    try {
      const { runId } = await runNow(db, platform.boss, { integration: 'refused-at-finish', triggeredBy: 'ada' });
      await expect.poll(() => printed.find((line) => line.includes(runId)), { timeout: 30_000 }).toBeDefined();
      const line = printed.find((l) => l.includes(runId))!;
      expect(line).toContain('its job failed in the platform');
      // What the database said (the cause behind Drizzle's "Failed query: <SQL> params: …"), and where.
      expect(line).toContain('interrupted: refused to record a run holding [redacted] (P0001)\nat ');
      expect(line).not.toContain('Failed query');
      expect(printed.join('\n')).not.toContain('sk-apiKey-0042');
      const [job] = await db.execute<{ output: unknown }>(
        sql`select output from pgboss.job where data->>'runId' = ${runId} and state in ('failed', 'retry') limit 1`,
      );
      expect(JSON.stringify(job?.output ?? null)).not.toContain('sk-apiKey-0042');
    } finally {
      spy.mockRestore();
      // The worker retries the job meanwhile: dropping the trigger under its transaction can deadlock
      // (DROP TRIGGER takes runs' strongest lock). Let the run finish first; CREATE OR REPLACE takes no
      // table lock.
      await db.execute(sql`create or replace function refuse_success() returns trigger language plpgsql as $$
        begin return new; end $$`);
      const [run] = await db.execute<{ id: string }>(sql`select id from runs where integration = 'refused-at-finish' limit 1`);
      if (run) await finished(run.id, 30_000);
      await db.execute(sql`drop trigger if exists refuse_success on runs`);
      await db.execute(sql`drop function if exists refuse_success()`);
    }
  });
});

describe('storableResult', () => {
  const redactor = new SecretRedactor().add('hunter2-secret-xyz');
  it('keeps a shared (not circular) object twice, and writes a bigint as digits', () => {
    const shared = { id: 7 };
    expect(storableResult({ processed: 1, a: shared, b: [shared], big: 12345678901234567890n }, redactor)).toEqual({
      result: { processed: 1, a: { id: 7 }, b: [{ id: 7 }], big: '12345678901234567890' },
      notes: ["the handler's result holds a bigint: stored as digits"],
    });
  });
  it('says when the result is not the contract object, or processed is not a number', () => {
    expect(storableResult('hunter2-secret-xyz done', redactor)).toEqual({
      result: '[redacted] done',
      notes: ["the handler returned a string, not an object such as { processed: 12, summary: '…' }: stored as it is"],
    });
    expect(storableResult({ processed: 'lots' }, redactor).notes).toEqual([
      `the handler's result.processed is "lots", not a number: the console shows it as it is`,
    ]);
    expect(storableResult(undefined, redactor)).toEqual({ result: {}, notes: [] });
  });
  it('stores the text of a result JSON cannot write', () => {
    const result = {
      toJSON() {
        throw new Error('not today');
      },
      toString: () => 'a result with hunter2-secret-xyz',
    };
    expect(storableResult(result, redactor)).toEqual({
      result: { summary: 'a result with [redacted]' },
      notes: [`the handler's result could not be written as JSON (not today): stored as its text; return plain JSON`],
    });
  });
});
