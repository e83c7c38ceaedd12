import { randomUUID } from 'node:crypto';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

/**
 * A cancelled run's attempt closes a few seconds after the run (it is told to stop). The run page
 * stopped following the run once it read "Cancelled", and kept showing the attempt running.
 */
test("a cancelled run's page follows its attempt until it has stopped", async ({ page }) => {
  const id = randomUUID();
  const created = new Date(Date.now() - 60_000);
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, error_message, created_at, started_at, finished_at)
    values (${id}, 'accounting-export', 'manual', 'cancelled', 'e2e', ${randomUUID()}, 1, 4, 'cancelled by oscar.operator@junction.local', ${created}, ${created}, now())`;
  // Its worker alive: the session lock on the attempt's id a worker holds while it runs (liveness.ts),
  // taken before the attempt row exists, as a worker does.
  const attempt = randomUUID();
  const worker = await db().reserve();
  await worker`select pg_advisory_lock(hashtextextended(${attempt}, 0))`;
  await db()`
    insert into attempts (id, run_id, run_created_at, number, outcome, started_at)
    values (${attempt}, ${id}, ${created}, 1, 'running', ${created})`;
  try {
    await signIn(page, 'oscar', `/runs/${id}`);
    await expect(page.getByText('stopping its attempt')).toBeVisible();
    await expect(page.getByText('running', { exact: true })).toBeVisible();
    // The worker closes the attempt: the page shows it without a reload, and stops following.
    await db()`update attempts set outcome = 'cancelled', error_message = 'cancelled by oscar.operator@junction.local', finished_at = now() where id = ${attempt}`;
    await expect(page.getByText('stopping its attempt')).toHaveCount(0, { timeout: 15_000 });
    await expect(page.getByText('cancelled', { exact: true }).first()).toBeVisible();
    await expect(page.getByText('running', { exact: true })).toHaveCount(0);
    // A cancellation is said as what stopped it, not under "What failed".
    await expect(page.getByText('Why it stopped', { exact: true })).toBeVisible();
    await expect(page.getByText('Cancelled before it finished, not failed')).toBeVisible();
    await expect(page.getByText('What failed', { exact: true })).toHaveCount(0);
  } finally {
    await db()`update attempts set outcome = 'cancelled', finished_at = coalesce(finished_at, now()) where id = ${attempt} and outcome = 'running'`;
    await worker`select pg_advisory_unlock_all()`;
    worker.release();
  }
});
