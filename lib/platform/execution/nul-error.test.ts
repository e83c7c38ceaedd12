import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attemptLogs } from '../../../db/schema';
import { platformEvents, runQueries, startTestPlatform, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { PermanentError } from '../errors';
import { runNow } from '../triggers/triggers';

/**
 * An error whose message holds a NUL character (PostgreSQL text cannot store one): a failed query
 * whose parameters carried a value from an external system, an API's error body. Recording the
 * failure used to fail on the NUL, leaving the attempt open: it was taken for a lost worker,
 * re-queued without using an attempt, again and again, and the run ended "too many interruptions"
 * with the handler's error nowhere. A result holding one did the same to a success: the handler's
 * work was done again at each "interruption". The NUL is now recorded as U+FFFD. A cursor or
 * checkpoint holding one (a page token from an external API) is refused when it is set, with the
 * path, as other values jsonb cannot hold are. Log data holding one is stored with U+FFFD too
 * (before: the last lines, written with the success, failed it the same way).
 */

let resultExecutions = 0;
let cursorExecutions = 0;
let logExecutions = 0;

const defs = [
  defineIntegration({
    name: 'nul-transient',
    description: 'Fails with a NUL in its message',
    settings: z.object({}),
    defaults: { retry: { delays: ['1s'] } },
    async execute() {
      throw new Error('insert refused; params: Broken\u0000Import GmbH');
    },
  }),
  defineIntegration({
    name: 'nul-permanent',
    description: 'Fails permanently with a NUL in its message',
    settings: z.object({}),
    async execute() {
      throw new PermanentError('bad record \u0000 from upstream');
    },
  }),
  defineIntegration({
    name: 'nul-result',
    description: 'Succeeds with a NUL in its result',
    settings: z.object({}),
    async execute() {
      resultExecutions++;
      return { processed: 1, summary: 'booked Broken\u0000Import GmbH', rejected: [{ reference: 'A\u0000B' }] };
    },
  }),
  defineIntegration({
    name: 'nul-cursor',
    description: 'Stages a cursor holding a NUL',
    settings: z.object({}),
    async execute(ctx) {
      cursorExecutions++;
      ctx.cursor.set({ pageToken: 'abc\u0000def' });
      return { processed: 1 };
    },
  }),
  defineIntegration({
    name: 'nul-log',
    description: 'Logs data holding a NUL, then succeeds',
    settings: z.object({}),
    async execute(ctx) {
      logExecutions++;
      ctx.log.info('contact refused', { name: 'Broken\u0000Import GmbH' });
      return { processed: 1 };
    },
  }),
] as IntegrationDefinition[];

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(defs, { workerId: 'nul-worker', concurrency: 1 });
});
afterAll(() => platform?.stop());

const { attemptRows, finished } = runQueries(() => platform.t.db);

describe('a handler error, result or cursor with a NUL character', () => {
  it('is recorded (NUL as U+FFFD) and uses up the attempts like any transient error', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'nul-transient', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({ status: 'failed', attemptCount: 2, errorMessage: 'insert refused; params: Broken\uFFFDImport GmbH' });
    expect((await attemptRows(runId)).map((a) => [a.outcome, a.errorMessage])).toEqual([
      ['failed', 'insert refused; params: Broken\uFFFDImport GmbH'],
      ['failed', 'insert refused; params: Broken\uFFFDImport GmbH'],
    ]);
    const [event] = (await platformEvents(platform.t.db, 'run.failed')).filter((e) => e.runId === runId);
    expect(event).toMatchObject({ reason: 'retries_exhausted', error: 'insert refused; params: Broken\uFFFDImport GmbH' });
  });

  it('fails the run at once when permanent', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'nul-permanent', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({
      status: 'failed',
      attemptCount: 1,
      errorClass: 'PermanentError',
      errorMessage: 'bad record \uFFFD from upstream',
    });
  });

  it('a success whose result holds a NUL is recorded once, the handler run once', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'nul-result', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({
      status: 'succeeded',
      attemptCount: 1,
      result: { processed: 1, summary: 'booked Broken\uFFFDImport GmbH', rejected: [{ reference: 'A\uFFFDB' }] },
    });
    // Before: the success could not be recorded, the attempt was taken for a lost worker and the
    // handler ran again, ten times, then the run failed.
    expect(resultExecutions).toBe(1);
    expect((await attemptRows(runId)).map((a) => a.outcome)).toEqual(['succeeded']);
  });

  it('a cursor holding a NUL is refused when staged, with a message, the handler run once', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'nul-cursor', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({
      status: 'failed',
      attemptCount: 1,
      errorClass: 'PermanentError',
      errorMessage: expect.stringContaining('value.pageToken holds a NUL character'),
    });
    expect(cursorExecutions).toBe(1);
  });

  it('a log line whose data holds a NUL does not keep the success from being recorded', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'nul-log', triggeredBy: 'ada' });
    const run = await finished(runId);
    expect(run).toMatchObject({ status: 'succeeded', attemptCount: 1 });
    expect(logExecutions).toBe(1);
    const [attempt] = await attemptRows(runId);
    const lines = await platform.t.db.select().from(attemptLogs).where(eq(attemptLogs.attemptId, attempt.id));
    expect(lines.find((l) => l.message === 'contact refused')?.data).toEqual({ name: 'Broken\uFFFDImport GmbH' });
  });
});
