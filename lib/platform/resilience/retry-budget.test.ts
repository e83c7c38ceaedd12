import { eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { alerts, integrations, runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { platformEvents, startTestBoss, TEST_WORKER_OPTIONS, waitFor } from '../../../test/fixtures/platform';
import { handlePlatformEvent } from '../alerts';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { TransientError } from '../errors';
import type { PlatformEvent } from '../execution/events';
import { startPlatformWorker, type PlatformWorker } from '../execution/worker';
import { buildRegistry, syncRegistry } from '../registry';
import { runNow } from '../triggers/triggers';
import { RETRY_BUDGET_MIN_ATTEMPTS, retryBudgetStatus } from './retry-budget';

const storm = defineIntegration({
  name: 'storm',
  description: 'always fails transiently',
  settings: z.object({}),
  defaults: { retry: { delays: ['200ms', '200ms', '200ms'] } },
  async execute() {
    throw new TransientError('upstream answered 503');
  },
}) as IntegrationDefinition;

let t: TestDatabase;
let boss: PgBoss;
let worker: PlatformWorker;
beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  await syncRegistry(t.db, { registry: buildRegistry([storm]) });
  await t.db.update(integrations).set({ retryBudget: 0.2 }).where(eq(integrations.name, 'storm'));
  worker = await startPlatformWorker({
    db: t.db,
    boss,
    registry: buildRegistry([storm]),
    workerId: 'budget-worker',
    options: TEST_WORKER_OPTIONS,
  });
});
afterAll(async () => {
  await worker.stop({ timeoutMs: 1_000 });
  await boss.stop({ graceful: false });
  await t.drop();
});

describe('retry budget', () => {
  it('a retry storm hits the budget: further transient failures are not retried, fail with "retry budget exhausted" and alert once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await runNow(t.db, boss, { integration: 'storm', triggeredBy: 'storm', trigger: 'api' })).runId);
    const done = await waitFor(
      'the storm to end',
      async () => {
        const rows = await t.db.select().from(runs).where(eq(runs.integration, 'storm'));
        return rows.every((r) => r.finishedAt) ? rows : undefined;
      },
      60_000,
    );
    expect(done.every((r) => r.status === 'failed')).toBe(true);
    const budgeted = done.filter((r) => r.errorClass === 'RetryBudgetExhausted');
    expect(budgeted.length).toBeGreaterThan(0);
    for (const r of budgeted) {
      expect(r.errorMessage).toMatch(
        /^retry budget exhausted: \d+ of \d+ attempts in the last hour were automatic retries \(budget 20%\), so this transient failure was not retried\. Last error: upstream answered 503$/,
      );
      expect(r.attemptCount).toBeLessThan(r.maxAttempts);
    }
    // Before the floor of attempts the first runs got their retries; the budget then held retries back.
    expect(done.some((r) => r.attemptCount > 1)).toBe(true);
    const status = await retryBudgetStatus(t.db, { integration: 'storm', budget: 0.2 });
    expect(status.attempts).toBeGreaterThanOrEqual(RETRY_BUDGET_MIN_ATTEMPTS);
    expect(status.exhausted).toBe(true);
    expect(status.attempts).toBeLessThan(8 * 4);

    const failed = (await platformEvents(t.db, 'run.failed')) as unknown as Extract<PlatformEvent, { type: 'run.failed' }>[];
    expect(
      failed
        .filter((e) => e.reason === 'retry_budget')
        .map((e) => e.runId)
        .sort(),
    ).toEqual(budgeted.map((r) => r.id).sort());
    // The alerting module turns the storm of failures into one incident and one alert.
    const changes = [];
    for (const event of failed) changes.push(...(await handlePlatformEvent(t.db, { boss, event, appUrl: 'http://localhost:3000' })));
    expect(changes.filter((c) => c.change === 'opened')).toHaveLength(1);
    expect(await t.db.select().from(alerts).where(eq(alerts.integration, 'storm'))).toHaveLength(1);
  }, 90_000);

  it('no budget (null) never holds a retry back', async () => {
    expect(await retryBudgetStatus(t.db, { integration: 'storm', budget: null })).toEqual({
      budget: null,
      attempts: 0,
      retries: 0,
      exhausted: false,
    });
  });
});
