import { eq, inArray } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { sleep, startTestBoss, TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
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
] as IntegrationDefinition[];

let t: TestDatabase;
let boss: PgBoss;
let worker: PlatformWorker;

beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  worker = await startPlatformWorker({
    db: t.db,
    boss,
    registry: buildRegistry(defs),
    workerId: 'listener',
    concurrency: 1,
    options: { ...TEST_WORKER_OPTIONS, pollingIntervalSeconds: POLL_SECONDS },
  });
  // Past the worker's first fetch: from here on only a wake-up (or the 60 s poll) fetches.
  await sleep(1_500);
});
afterAll(async () => {
  await worker.stop({ timeoutMs: 2_000 });
  await boss.stop({ graceful: false });
  await t.drop();
});

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
});
