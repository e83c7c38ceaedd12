import { asc, eq, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attemptLogs, attempts, cursors, integrations, runs } from '../../../db/schema';
import type { TestDatabase } from '../../../test/db';
import { runQueries, startTestPlatform, type TestPlatform } from '../../../test/fixtures/platform';
import { waitFor } from '../../../test/fixtures/wait';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { PermanentError, TransientError } from '../errors';
import { cancelRun, runNow } from '../triggers/triggers';
import { checkpointJson, commitCheckpointAsCursor, MAX_CHECKPOINT_BYTES, writeCheckpoint } from './checkpoint';

/**
 * Durable checkpoints through the real runner and worker: a handler that processes 10 items and
 * checkpoints after each, failing where its settings say; what each attempt processed is recorded
 * in `seen` so the test can tell a resume from a restart.
 */

const seen: Record<string, number[][]> = {};

const stepper = defineIntegration({
  name: 'stepper',
  description: 'Processes items 0..9, checkpointing after each',
  settings: z.object({
    failAfter: z.number().int().default(-1),
    failOnAttempt: z.number().int().default(1),
    permanent: z.boolean().default(false),
    waitAfter: z.number().int().default(-1),
  }),
  defaults: { retry: { delays: ['1s', '1s'] } },
  async execute(ctx) {
    const from = (await ctx.cursor.get<{ next: number }>())?.next ?? 0;
    const mine: number[] = [];
    (seen[ctx.run.id] ??= []).push(mine);
    for (let i = from; i < 10; i++) {
      mine.push(i);
      await ctx.cursor.checkpoint({ next: i + 1 });
      if (i === ctx.settings.waitAfter && ctx.run.attempt === 1) throw new TransientError('stop here and wait for the retry');
      if (i === ctx.settings.failAfter && ctx.run.attempt === ctx.settings.failOnAttempt) {
        throw ctx.settings.permanent
          ? new PermanentError(`item ${i} cannot be processed`)
          : new TransientError(`upstream busy after item ${i}`);
      }
    }
    return { processed: mine.length };
  },
});

const badValues = {
  bigint: { n: 1n },
  circular: (() => {
    const v: Record<string, unknown> = { a: 1 };
    v.self = v;
    return v;
  })(),
  date: { at: new Date('2026-11-30T10:00:00Z') },
  nan: { n: Number.NaN },
  large: { blob: 'x'.repeat(MAX_CHECKPOINT_BYTES) },
} as const;

const bad = defineIntegration({
  name: 'bad-checkpoint',
  description: 'Checkpoints once, then a value that is not plain JSON or too large, and swallows the error',
  settings: z.object({ kind: z.enum(['bigint', 'circular', 'date', 'nan', 'large']) }),
  defaults: { retry: { delays: ['1s'] }, settings: { kind: 'bigint' } },
  async execute(ctx) {
    await ctx.cursor.checkpoint({ n: 1 });
    try {
      await ctx.cursor.checkpoint(badValues[ctx.settings.kind]);
    } catch (error) {
      ctx.log.warn(`caught: ${(error as Error).message}`);
    }
    return { processed: 1 };
  },
});

let t: TestDatabase;
let boss: PgBoss;
let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform([stepper, bad] as IntegrationDefinition[], { workerId: 'checkpoint-worker', concurrency: 2 });
  ({ t, boss } = platform);
});
afterAll(() => platform?.stop());

const cursorOf = async (name: string) => (await t.db.select().from(cursors).where(eq(cursors.integration, name)))[0]?.value;
const settings = (name: string, values: Record<string, unknown>) =>
  t.db.update(integrations).set({ settings: values }).where(eq(integrations.name, name));
const resetCursor = (name: string) => t.db.delete(cursors).where(eq(cursors.integration, name));

const { runRow, attemptRows, finished } = runQueries(() => t.db);

describe('durable checkpoints', () => {
  it('a retried attempt resumes after the last checkpoint, records and logs it, and the run commits the end as the cursor', async () => {
    await resetCursor('stepper');
    await settings('stepper', { failAfter: 3 });
    const { runId } = await runNow(t.db, boss, { integration: 'stepper', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({ status: 'succeeded', attemptCount: 2, checkpoint: { next: 10 }, checkpointAt: expect.any(Date) });
    // Attempt 1 did items 0..3 and failed; attempt 2 started at 4, not at 0.
    expect(seen[runId]).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7, 8, 9],
    ]);
    const rows = await attemptRows(runId);
    expect(rows.map((a) => [a.number, a.outcome, a.resumedFrom])).toEqual([
      [1, 'failed', null],
      [2, 'succeeded', { next: 4 }],
    ]);
    const logs = await t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, rows[1].id)).orderBy(asc(attemptLogs.id));
    expect(logs.map((l) => l.message)).toContain('resumed from checkpoint {"next":4}');
    expect(await cursorOf('stepper')).toEqual({ next: 10 });
    console.log(
      `checkpoint resume: attempt 1 processed ${seen[runId][0].length}, attempt 2 resumed from ${JSON.stringify(rows[1].resumedFrom)} and processed ${seen[runId][1].length}`,
    );
  });

  it('a run that fails commits its last checkpoint as the cursor, so the next run starts after the acknowledged work', async () => {
    await resetCursor('stepper');
    await settings('stepper', { failAfter: 5, permanent: true });
    const { runId } = await runNow(t.db, boss, { integration: 'stepper', triggeredBy: 'ada' });
    expect(await finished(runId)).toMatchObject({ status: 'failed', errorClass: 'PermanentError', checkpoint: { next: 6 } });
    expect(await cursorOf('stepper')).toEqual({ next: 6 });

    await settings('stepper', {});
    const next = await runNow(t.db, boss, { integration: 'stepper', triggeredBy: 'ada' });
    expect(await finished(next.runId)).toMatchObject({ status: 'succeeded' });
    expect(seen[next.runId]).toEqual([[6, 7, 8, 9]]);
    expect((await attemptRows(next.runId))[0].resumedFrom).toBeNull();
  });

  it('a run cancelled between attempts commits its last checkpoint as the cursor', async () => {
    await resetCursor('stepper');
    await settings('stepper', { waitAfter: 2 });
    await t.db
      .update(integrations)
      .set({ retryDelays: ['1h'] })
      .where(eq(integrations.name, 'stepper'));
    const { runId } = await runNow(t.db, boss, { integration: 'stepper', triggeredBy: 'ada' });
    await waitFor('the run to wait for its retry', async () => (await runRow(runId)).status === 'retrying');
    await cancelRun(t.db, boss, { runId, by: 'oscar' });
    expect(await runRow(runId)).toMatchObject({ status: 'cancelled', checkpoint: { next: 3 } });
    expect(await cursorOf('stepper')).toEqual({ next: 3 });
    await t.db
      .update(integrations)
      .set({ retryDelays: ['1s', '1s'] })
      .where(eq(integrations.name, 'stepper'));
  });

  it('a dry-run never writes a checkpoint and never moves the cursor, though the handler sees its own progress', async () => {
    await resetCursor('stepper');
    await t.db.insert(cursors).values({ integration: 'stepper', value: { next: 2 } });
    await settings('stepper', {});
    const { runId } = await runNow(t.db, boss, { integration: 'stepper', triggeredBy: 'ada', dryRun: true });
    expect(await finished(runId)).toMatchObject({ status: 'succeeded', checkpoint: null, checkpointAt: null });
    expect(seen[runId]).toEqual([[2, 3, 4, 5, 6, 7, 8, 9]]);
    expect(await cursorOf('stepper')).toEqual({ next: 2 });
  });

  it('refuses a checkpoint that is not plain JSON or over 64 KB with an error naming the integration; the attempt fails and nothing is written', async () => {
    const outcomes: string[] = [];
    for (const kind of Object.keys(badValues) as (keyof typeof badValues)[]) {
      await resetCursor('bad-checkpoint');
      await settings('bad-checkpoint', { kind });
      const { runId } = await runNow(t.db, boss, { integration: 'bad-checkpoint', triggeredBy: 'ada' });
      const run = await finished(runId);
      // The handler caught the error and returned: the attempt fails anyway, at once (permanent).
      expect(run).toMatchObject({ status: 'failed', attemptCount: 1, errorClass: 'PermanentError', checkpoint: { n: 1 } });
      expect(run.errorMessage).toMatch(
        /^(Checkpoint of 'bad-checkpoint' is not JSON-serialisable: value\.|Checkpoint of 'bad-checkpoint' is \d+ bytes of JSON, over the 65536-byte limit)/,
      );
      expect(run.errorMessage).toContain('nothing was written');
      // Only the earlier, valid checkpoint: it becomes the cursor of the failed run.
      expect(await cursorOf('bad-checkpoint')).toEqual({ n: 1 });
      outcomes.push(`${kind}: ${run.errorMessage!.slice(0, 110)}`);
    }
    console.log(`refused checkpoints:\n  ${outcomes.join('\n  ')}`);
  });

  it('names the path and the reason, and accepts plain JSON up to the limit', () => {
    expect(() => checkpointJson('x', { a: [1, { b: () => 1 }] })).toThrow(
      "Checkpoint of 'x' is not JSON-serialisable: value.a[1].b is a function",
    );
    expect(() => checkpointJson('x', { at: new Date(0) })).toThrow('value.at is a Date (store value.toISOString())');
    expect(() => checkpointJson('x', [1, undefined])).toThrow('value[1] is undefined');
    expect(() => checkpointJson('x', undefined)).toThrow('value is undefined (pass null to clear it)');
    expect(() => checkpointJson('x', { n: Infinity })).toThrow('value.n is Infinity');
    expect(() => checkpointJson('x', { s: 'é'.repeat(MAX_CHECKPOINT_BYTES / 2) })).toThrow(PermanentError);
    expect(checkpointJson('x', { s: 'x'.repeat(MAX_CHECKPOINT_BYTES - 8), skip: undefined })).toHaveLength(MAX_CHECKPOINT_BYTES);
    expect(checkpointJson('x', null)).toBe('null');
  });

  it('never moves the cursor back to the checkpoint of a run requested before the one that committed it', async () => {
    await resetCursor('stepper');
    const older = new Date(Date.now() - 60_000);
    const [early] = await t.db
      .insert(runs)
      .values({
        integration: 'stepper',
        trigger: 'api',
        triggeredBy: 'test',
        correlationId: 'c-early',
        maxAttempts: 3,
        status: 'failed',
        checkpoint: { next: 2 },
        createdAt: older,
      })
      .returning();
    const [late] = await t.db
      .insert(runs)
      .values({
        integration: 'stepper',
        trigger: 'api',
        triggeredBy: 'test',
        correlationId: 'c-late',
        maxAttempts: 3,
        status: 'failed',
        checkpoint: { next: 7 },
      })
      .returning();
    await commitCheckpointAsCursor(t.db, late);
    // A late re-delivery of the earlier run's job must not undo the later run's progress.
    await commitCheckpointAsCursor(t.db, early);
    expect(await cursorOf('stepper')).toEqual({ next: 7 });
  });

  it('a checkpoint from an attempt that no longer owns the run is not written', async () => {
    const [run] = await t.db
      .insert(runs)
      .values({ integration: 'stepper', trigger: 'api', triggeredBy: 'test', correlationId: 'c-fence', maxAttempts: 3, status: 'running' })
      .returning();
    const [lost] = await t.db
      .insert(attempts)
      .values({ runId: run.id, runCreatedAt: run.createdAt, number: 1, outcome: 'failed', errorClass: 'WorkerLost' })
      .returning();
    const [current] = await t.db.insert(attempts).values({ runId: run.id, runCreatedAt: run.createdAt, number: 2 }).returning();
    expect(await writeCheckpoint(t.db, { runId: run.id, runCreatedAt: run.createdAt, attemptId: current.id, json: '{"next":5}' })).toBe(
      true,
    );
    expect(await writeCheckpoint(t.db, { runId: run.id, runCreatedAt: run.createdAt, attemptId: lost.id, json: '{"next":1}' })).toBe(false);
    const [row] = await t.db.execute<{ checkpoint: unknown }>(sql`select checkpoint from runs where id = ${run.id}`);
    expect(row.checkpoint).toEqual({ next: 5 });
  });
});
