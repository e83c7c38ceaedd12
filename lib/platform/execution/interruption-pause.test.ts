import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runQueries, startTestPlatform, TEST_WORKER_OPTIONS, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { DatabaseUnavailableError } from '../errors';
import { runNow } from '../triggers/triggers';
import { interruptionPauseMs, lostAttemptWords } from './runner';

/**
 * A run whose attempts end "database unavailable" (connection slots used up, a restart) was
 * re-queued at once each time: it was interrupted again within milliseconds and the cap of 10
 * failed it in seconds (7 interruptions in 3.4 s were seen), long before the database was back.
 * Each interruption after the first now waits, 1 s doubling up to a minute.
 */

let executions = 0;

const defs = [
  defineIntegration({
    name: 'db-flaps',
    description: 'The database refuses it three times, then it succeeds',
    settings: z.object({}),
    async execute() {
      executions++;
      // The second as the driver reports it: Drizzle's "Failed query: <SQL> params: …" over the cause.
      if (executions === 2)
        throw Object.assign(new Error('Failed query: select sealed from integration_secrets where name = $1\nparams: apiKey'), {
          query: 'select sealed from integration_secrets where name = $1',
          params: ['apiKey'],
          cause: Object.assign(new Error('sorry, too many clients already'), { name: 'PostgresError', code: '53300' }),
        });
      if (executions <= 3) throw new DatabaseUnavailableError(`too many clients already (${executions})`);
      return { processed: 1, summary: 'done once the database was back' };
    },
  }),
  defineIntegration({
    name: 'db-down',
    description: 'The database refuses it every time, until the cap',
    settings: z.object({}),
    async execute() {
      throw new DatabaseUnavailableError('terminating connection due to administrator command (57P01)');
    },
  }),
] as IntegrationDefinition[];

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(defs, {
    workerId: 'pause-worker',
    concurrency: 1,
    options: { ...TEST_WORKER_OPTIONS, maxInterruptions: 4 },
  });
});
afterAll(() => platform?.stop());

const { attemptRows, finished } = runQueries(() => platform.t.db);

describe('a run interrupted by an unavailable database', () => {
  it('pauses before each try after the first, growing, and succeeds without using up an attempt', async () => {
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'db-flaps', triggeredBy: 'ada' });
    const run = await finished(runId, 60_000);
    expect(run).toMatchObject({ status: 'succeeded', attemptCount: 1, interruptions: 3 });
    const rows = await attemptRows(runId);
    expect(rows.map((a) => [a.number, a.outcome, a.errorClass])).toEqual([
      [1, 'interrupted', 'DatabaseUnavailable'],
      [1, 'interrupted', 'DatabaseUnavailable'],
      [1, 'interrupted', 'DatabaseUnavailable'],
      [1, 'succeeded', null],
    ]);
    // Said by its cause, not by the statement and its parameters (which may hold values from outside).
    expect(rows[1].errorMessage).toMatch(/^database unavailable: sorry, too many clients already \(53300\) \(on pause-worker\)/);
    expect(rows[1].errorMessage).not.toMatch(/Failed query|params|apiKey/);
    // The gap between an interruption and the next try is at least the pause for it (timestamps
    // from the database's clock, both: the pause is when the job may start, not a timer here).
    const gaps = rows.slice(1).map((a, i) => a.startedAt.getTime() - rows[i].finishedAt!.getTime());
    expect(gaps[1]).toBeGreaterThanOrEqual(interruptionPauseMs(2) - 50);
    expect(gaps[2]).toBeGreaterThanOrEqual(interruptionPauseMs(3) - 50);
  }, 90_000);

  it('fails at the cap naming the database, not a handler that crashes its worker', async () => {
    // Seen with sessions terminated under load: the run failed "the run keeps stopping the workers
    // that execute it, as a handler that exhausts memory or crashes its process does", sending the
    // operator to the handler's code while the database was what kept cutting it off.
    const { runId } = await runNow(platform.t.db, platform.boss, { integration: 'db-down', triggeredBy: 'ada' });
    const run = await finished(runId, 60_000);
    expect(run).toMatchObject({ status: 'failed', interruptions: 4, errorClass: 'DatabaseUnavailable' });
    expect(run.errorMessage).toMatch(/^interrupted 4 times \(the cap is 4\): the database kept cutting the run off/);
    expect(run.errorMessage).not.toMatch(/handler|stopping the workers/);
  }, 60_000);

  it('tries again at once after the first, then 1 s doubling to a minute: about three minutes before the default cap of 10', () => {
    const pauses = Array.from({ length: 10 }, (_, i) => interruptionPauseMs(i + 1));
    expect(pauses).toEqual([0, 1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });
});

describe('an attempt found lost', () => {
  it('by its own worker reads as a database session cut, not as that worker lost', () => {
    expect(lostAttemptWords({ worker: 'vm:31289:a', recoveredBy: 'vm:31289:a', restarted: false })).toEqual({
      errorClass: 'DatabaseUnavailable',
      message:
        'database unavailable: vm:31289:a lost the database session that held this attempt (cut by the database: a terminated connection, a failover), which ended it; the worker noticed on its next check. This interruption did not use up an attempt',
    });
    expect(lostAttemptWords({ worker: 'doomed', recoveredBy: 'survivor', restarted: false })).toMatchObject({
      errorClass: 'WorkerLost',
      message: expect.stringMatching(/^worker lost: doomed stopped .*noticed by survivor\./),
    });
    expect(lostAttemptWords({ worker: 'w', recoveredBy: 'w', restarted: true })).toMatchObject({
      errorClass: 'DatabaseUnavailable',
      message: expect.stringMatching(/^database unavailable: the database restarted while w ran this attempt/),
    });
  });
});
