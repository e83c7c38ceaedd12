import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attemptLogs } from '../../../db/schema';
import { platformEvents, runQueries, startTestPlatform, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { runNow } from '../triggers/triggers';

/**
 * Text cut in the middle of a character written as two UTF-16 units (an emoji, a rare CJK
 * ideograph): an external API's name field cut to its length limit, an error body cut to a snippet,
 * a handler's `summary: name.slice(0, 40)`. The half left over (an unpaired surrogate) is what
 * JSON.stringify writes as `\ud83d`, which jsonb refuses: recording the run's result, a log line's
 * data or the failure's event failed the statement, as a NUL did (nul-error.test.ts).
 */

const HALF = 'Café 😀'.slice(0, -1); // ends with the emoji's first half
let resultExecutions = 0;
let logExecutions = 0;
let cursorExecutions = 0;

const defs = [
  defineIntegration({
    name: 'half-error',
    description: 'Fails with half a character in its message',
    settings: z.object({}),
    defaults: { retry: { delays: ['1s'] } },
    async execute() {
      throw new Error(`refused: ${HALF}`);
    },
  }),
  defineIntegration({
    name: 'half-result',
    description: 'Succeeds with half a character in its result',
    settings: z.object({}),
    async execute() {
      resultExecutions++;
      return { processed: 1, summary: `booked ${HALF}`, rejected: [{ reference: HALF }] };
    },
  }),
  defineIntegration({
    name: 'half-log',
    description: 'Logs data holding half a character, then succeeds',
    settings: z.object({}),
    async execute(ctx) {
      logExecutions++;
      ctx.log.info(`contact ${HALF} refused`, { name: HALF, [HALF]: 1 });
      return { processed: 1 };
    },
  }),
  defineIntegration({
    name: 'half-cursor',
    description: 'Stages a cursor holding half a character',
    settings: z.object({}),
    async execute(ctx) {
      cursorExecutions++;
      ctx.cursor.set({ pageToken: HALF });
      return { processed: 1 };
    },
  }),
  defineIntegration({
    name: 'half-plan',
    description: 'Posts a body holding half a character (only planned in a dry-run)',
    settings: z.object({}),
    async execute(ctx) {
      await ctx.http.post('https://accounting.example/contacts', { json: { name: HALF, note: 'a\u0000b' } });
      await ctx.http.post('https://accounting.example/notes', { body: `${'x'.repeat(63_999)}😀 and more` });
      return { processed: 1 };
    },
  }),
] as IntegrationDefinition[];

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(defs, { workerId: 'half-worker', concurrency: 1 });
});
afterAll(() => platform?.stop());

const { attemptRows, finished } = runQueries(() => platform.t.db);

describe('a handler error, result, log line, cursor or dry-run plan holding half a character', () => {
  it('an error is recorded (the half as U+FFFD) and uses up the attempts like any transient error', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'half-error', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({ status: 'failed', attemptCount: 2, errorMessage: 'refused: Café \uFFFD' });
    const [event] = (await platformEvents(platform.t.db, 'run.failed')).filter((e) => e.runId === runId);
    expect(event).toMatchObject({ reason: 'retries_exhausted', error: 'refused: Café \uFFFD' });
  });

  it('a success whose result holds one is recorded once, the handler run once', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'half-result', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({
      status: 'succeeded',
      attemptCount: 1,
      result: { processed: 1, summary: 'booked Café \uFFFD', rejected: [{ reference: 'Café \uFFFD' }] },
    });
    // Before: the success could not be recorded, the attempt was taken for a lost worker and the
    // handler ran again, ten times, then the run failed "too many interruptions".
    expect(resultExecutions).toBe(1);
    expect((await attemptRows(runId)).map((a) => a.outcome)).toEqual(['succeeded']);
  });

  it('a log line holding one does not keep the success from being recorded', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'half-log', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({ status: 'succeeded', attemptCount: 1 });
    expect(logExecutions).toBe(1);
    const [attempt] = await attemptRows(runId);
    const lines = await platform.t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, attempt.id));
    expect(lines.find((l) => l.message === 'contact Café \uFFFD refused')?.data).toEqual({ name: 'Café \uFFFD', 'Café \uFFFD': 1 });
  });

  it('a cursor holding one is refused when staged, with a message, the handler run once', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'half-cursor', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({
      status: 'failed',
      attemptCount: 1,
      errorClass: 'PermanentError',
      errorMessage: expect.stringContaining('value.pageToken holds half of a character (an unpaired UTF-16 surrogate'),
    });
    expect(cursorExecutions).toBe(1);
  });

  it('a dry-run whose planned requests hold one (or a NUL) records its plan once', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'half-plan', triggeredBy: 'ada', dryRun: true });
    const run = await finished(runId);
    expect(run).toMatchObject({ status: 'succeeded', attemptCount: 1, dryRun: true });
    const [contacts, notes] = run.plan as { body: unknown }[];
    expect(contacts.body).toEqual({ name: 'Café \uFFFD', note: 'a\uFFFDb' });
    // Cut at 64 000 characters, between the emoji's halves.
    expect(notes.body).toBe(`${'x'.repeat(63_999)}\uFFFD`);
  });
});
