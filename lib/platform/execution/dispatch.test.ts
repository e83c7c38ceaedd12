import { eq, inArray } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runs } from '../../../db/schema';
import type { TestDatabase } from '../../../test/db';
import { sleep, startTestPlatform, TEST_WORKER_OPTIONS, waitFor, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { buildRegistry } from '../registry';
import { runNow } from '../triggers/triggers';
import { RUNS_QUEUE } from './queue';
import { startPlatformWorker, type PlatformWorker } from './worker';

/**
 * Dispatch by LISTEN/NOTIFY (issue 18). The worker polls only every 60 s here, so a run that starts
 * within a few seconds was woken by the NOTIFY its job's insert sent, and the next run of the same
 * integration (fetchable only once the previous job completed, which sends no NOTIFY) by the slot
 * fetching again right after its job.
 */

const POLL_SECONDS = 60;
const started = new Map<string, number>();
const defs = [
  defineIntegration({
    name: 'quick',
    description: 'Records when it starts',
    settings: z.object({}),
    async execute(ctx) {
      started.set(ctx.run.id, Date.now());
      return { processed: 0 };
    },
  }),
  ...['a', 'b', 'c'].map((k) =>
    defineIntegration({
      name: `batched-${k}`,
      description: 'Takes 150 ms and records when',
      settings: z.object({}),
      async execute(ctx) {
        const start = Date.now();
        await sleep(150);
        windows.push({ integration: k, runId: ctx.run.id, start, end: Date.now() });
        return { processed: 0 };
      },
    }),
  ),
] as IntegrationDefinition[];
const windows: { integration: string; runId: string; start: number; end: number }[] = [];

let t: TestDatabase;
let boss: PgBoss;
let worker: PlatformWorker;
let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(defs, {
    workerId: 'listener',
    concurrency: 1,
    options: { ...TEST_WORKER_OPTIONS, pollingIntervalSeconds: POLL_SECONDS },
  });
  ({ t, boss, worker } = platform);
  // Past the worker's first fetch: from here on only a wake-up (or the 60 s poll) fetches.
  await sleep(1_500);
});
afterAll(() => platform?.stop());

describe('dispatch by NOTIFY', () => {
  it('the runs queue is notify-enabled', async () => {
    expect((await boss.getQueue(RUNS_QUEUE))?.notify).toBe(true);
  });

  it('starts a run on an idle worker at once, without waiting for its poll', async () => {
    const before = Date.now();
    const { runId } = await runNow(t.db, boss, { integration: 'quick', triggeredBy: 'ada', trigger: 'api' });
    const at = await waitFor('the handler to start', async () => started.get(runId), 10_000);
    expect(at - before).toBeLessThan(10_000);
    await waitFor('the run to succeed', async () => {
      const [row] = await t.db.select({ status: runs.status }).from(runs).where(eq(runs.id, runId));
      return row.status === 'succeeded';
    });
  });

  it('works queued runs of one integration back to back, in order, each after the previous job completes', async () => {
    await sleep(1_000);
    const before = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await runNow(t.db, boss, { integration: 'quick', triggeredBy: 'ada', trigger: 'api' })).runId);
    }
    await waitFor(
      'all five runs to succeed',
      async () => {
        const rows = await t.db.select({ status: runs.status }).from(runs).where(inArray(runs.id, ids));
        return rows.every((r) => r.status === 'succeeded');
      },
      20_000,
    );
    const starts = ids.map((id) => started.get(id)!);
    // Turn-taking kept: each started after the previous one, in the order requested.
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    expect(starts[4] - before).toBeLessThan(POLL_SECONDS * 1000);
  });

  it('with batch fetches, runs of different integrations go side by side and each integration still takes turns', async () => {
    await worker.stop({ timeoutMs: 2_000 });
    worker = await startPlatformWorker({
      db: t.db,
      boss,
      registry: buildRegistry(defs),
      workerId: 'batched',
      concurrency: 6,
      options: { ...TEST_WORKER_OPTIONS, pollingIntervalSeconds: POLL_SECONDS, runBatchSize: 3 },
    });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      for (const k of ['a', 'b', 'c'])
        ids.push((await runNow(t.db, boss, { integration: `batched-${k}`, triggeredBy: 'ada', trigger: 'api' })).runId);
    }
    await waitFor(
      'all twelve runs to succeed',
      async () => {
        const rows = await t.db.select({ status: runs.status }).from(runs).where(inArray(runs.id, ids));
        return rows.every((r) => r.status === 'succeeded');
      },
      30_000,
    );
    for (const k of ['a', 'b', 'c']) {
      const mine = ids.filter((_, i) => i % 3 === ['a', 'b', 'c'].indexOf(k)).map((id) => windows.find((w) => w.runId === id)!);
      // In the order requested, never two at once.
      for (let i = 1; i < mine.length; i++) expect(mine[i].start).toBeGreaterThanOrEqual(mine[i - 1].end);
    }
    // Side by side across integrations: some run started before another integration's run ended.
    const overlapping = windows.some((w) => windows.some((o) => o.integration !== w.integration && o.start < w.end && w.start < o.end));
    expect(overlapping).toBe(true);
    const jobs = await boss.findJobs(RUNS_QUEUE, {});
    expect(jobs.filter((j) => j.state !== 'completed')).toEqual([]);
  });
});
