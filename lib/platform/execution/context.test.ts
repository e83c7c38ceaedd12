import { asc, eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attemptLogs, attempts, cursors, integrations, runs, type Integration, type Run } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { sleep, startTestBoss } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition, type MapperFactory } from '../contract';
import { PermanentError } from '../errors';
import { createAttemptContext } from './context';

const mapped = defineIntegration({
  name: 'mapped',
  description: 'Declares a mapping',
  settings: z.object({ batchSize: z.number().int().min(1), region: z.string().default('eu') }),
  secrets: ['apiKey'],
  mapping: { sample: [{ n: 1 }], defaults: { fields: [] } },
  async execute() {
    return {};
  },
}) as IntegrationDefinition;
const plain = { ...mapped, name: 'plain', mapping: undefined } as IntegrationDefinition;

let t: TestDatabase;
let boss: PgBoss;
let run: Run;
let attemptId: string;
const rows: Record<string, Integration> = {};

beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  for (const name of ['mapped', 'plain']) {
    const [row] = await t.db
      .insert(integrations)
      .values({ name, breakerKey: name, settings: { batchSize: 25 }, mapping: { fields: ['stored'] } })
      .returning();
    rows[name] = row;
  }
  [run] = await t.db
    .insert(runs)
    .values({ integration: 'mapped', trigger: 'api', triggeredBy: 'script', correlationId: 'corr-7', maxAttempts: 4 })
    .returning();
  [{ id: attemptId }] = await t.db.insert(attempts).values({ runId: run.id, runCreatedAt: run.createdAt, number: 2 }).returning();
  await t.db.insert(cursors).values({ integration: 'mapped', value: { page: 3 } });
});
afterAll(async () => {
  await boss.stop({ graceful: false });
  await t.drop();
});

const build = (def: IntegrationDefinition, integration: Integration, mapper?: MapperFactory) =>
  createAttemptContext(
    { db: t.db, boss, mapper, secrets: { read: async (_i, names) => Object.fromEntries(names.map((n) => [n, `secret-${n}`])) } },
    { def, integration, run, attemptId, attemptNumber: 2, signal: new AbortController().signal },
  );

describe('attempt context', () => {
  it('gives the handler parsed settings, secrets, run info and the correlation id', async () => {
    const scope = await build(mapped, rows.mapped);
    const { ctx } = scope;
    expect(ctx.settings).toEqual({ batchSize: 25, region: 'eu' });
    expect(ctx.secrets).toEqual({ apiKey: 'secret-apiKey' });
    expect(ctx.run).toEqual({ id: run.id, attempt: 2, maxAttempts: 4, trigger: 'api', triggeredBy: 'script', createdAt: run.createdAt });
    expect(ctx.correlationId).toBe('corr-7');
    expect(ctx.dryRun).toBe(false);
    await scope.close();
  });

  it('reads the committed cursor and stages a new value without writing it', async () => {
    const scope = await build(mapped, rows.mapped);
    expect(await scope.ctx.cursor.get()).toEqual({ page: 3 });
    scope.ctx.cursor.set({ page: 4 });
    expect(await scope.ctx.cursor.get()).toEqual({ page: 4 });
    expect(scope.stagedCursor()).toEqual({ value: { page: 4 } });
    const [stored] = await t.db.select().from(cursors);
    expect(stored.value).toEqual({ page: 3 });
    await scope.close();
  });

  it('exposes ctx.map, compiled from the stored mapping, only when the integration declares one', async () => {
    const compiled: unknown[] = [];
    const mapper: MapperFactory = async (name, json) => {
      compiled.push({ name, json });
      return async (records) => ({ mapped: [], rejected: [], filtered: records.length });
    };
    const withMapping = await build(mapped, rows.mapped, mapper);
    expect(await withMapping.ctx.map?.([1, 2, 3])).toEqual({ mapped: [], rejected: [], filtered: 3 });
    expect(compiled).toEqual([{ name: 'mapped', json: { fields: ['stored'] } }]);
    const without = await build(plain, rows.plain, mapper);
    expect(without.ctx.map).toBeUndefined();
    await withMapping.close();
    await without.close();
  });

  it('refuses settings that do not parse with a permanent error naming the field', async () => {
    const error = await build(mapped, { ...rows.mapped, settings: { batchSize: 0 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toMatch(/^Setting 'batchSize' of 'mapped' is invalid: .*>=1/);
  });

  it('throttles progress writes and buffers log lines, and writes the last of both at close', async () => {
    const scope = await createAttemptContext(
      { db: t.db, boss, progressIntervalMs: 60_000, log: { flushMs: 60_000 } },
      { def: plain, integration: rows.plain, run, attemptId, attemptNumber: 2, signal: new AbortController().signal },
    );
    const progressOf = async () =>
      (await t.db.select({ done: runs.progressDone, total: runs.progressTotal }).from(runs).where(eq(runs.id, run.id)))[0];
    const linesOf = () =>
      t.db
        .select({ message: attemptLogs.message })
        .from(attemptLogs)
        .where(eq(attemptLogs.attemptId, attemptId))
        .orderBy(asc(attemptLogs.id));
    const batches = async (from: number, to: number) => {
      for (let done = from; done <= to; done++) {
        scope.ctx.progress(done, 100);
        scope.ctx.log.info(`batch ${done}`);
      }
      await sleep(200);
    };
    // The first progress is written at once (the latest value when the write starts)...
    await batches(1, 50);
    expect(await progressOf()).toEqual({ done: 50, total: 100 });
    // ...the next ones wait for the interval; log lines wait for theirs.
    await batches(51, 100);
    expect(await progressOf()).toEqual({ done: 50, total: 100 });
    expect(await linesOf()).toEqual([]);
    await scope.close();
    expect(await progressOf()).toEqual({ done: 100, total: 100 });
    const lines = await linesOf();
    expect(lines).toHaveLength(100);
    expect(lines.at(-1)).toEqual({ message: 'batch 100' });
  });

  it('commits a host transaction only while its attempt runs; one stuck inside it does not hold up the close of the attempt', async () => {
    await t.db.execute(sql`create table if not exists host_notes (note text not null)`);
    const [own] = await t.db.insert(attempts).values({ runId: run.id, runCreatedAt: run.createdAt, number: 3 }).returning();
    const scope = await createAttemptContext(
      { db: t.db, boss },
      { def: plain, integration: rows.plain, run, attemptId: own.id, attemptNumber: 3, signal: new AbortController().signal },
    );
    await scope.ctx.tx((tx) => tx.execute(sql`insert into host_notes values ('while running')`));
    // A handler inside its transaction: the attempt row is not locked while it runs, so the attempt closes at once.
    const entered = Promise.withResolvers<void>();
    const go = Promise.withResolvers<void>();
    const stuck = scope.ctx.tx(async (tx) => {
      await tx.execute(sql`insert into host_notes values ('stuck, then late')`);
      entered.resolve();
      await go.promise;
    });
    stuck.catch(() => {});
    await entered.promise;
    const closed = await t.db.update(attempts).set({ outcome: 'failed' }).where(eq(attempts.id, own.id)).returning();
    expect(closed).toHaveLength(1);
    go.resolve();
    // Its attempt closed meanwhile: it rolls back, with the reason; and so does the next one.
    await expect(stuck).rejects.toThrow(/^attempt 3 of run .* no longer owns the run .*: host transaction rolled back, stopping$/);
    await expect(scope.ctx.tx((tx) => tx.execute(sql`insert into host_notes values ('after the close')`))).rejects.toThrow(
      /no longer owns the run/,
    );
    const notes = await t.db.execute<{ note: string }>(sql`select note from host_notes`);
    expect(notes.map((n) => n.note)).toEqual(['while running']);
    await scope.close();
  });
});
