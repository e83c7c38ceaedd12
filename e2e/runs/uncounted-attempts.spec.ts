import { randomUUID } from 'node:crypto';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

test('the run page says which listed attempts did not use up the retry budget', async ({ page }) => {
  // Deferred by an open breaker (its number handed back), then succeeded as attempt 1 of 4.
  const id = randomUUID();
  const created = new Date(Date.now() - 300_000);
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, created_at, started_at, finished_at)
    values (${id}, 'accounting-export', 'manual', 'succeeded', 'ada@example.com', ${randomUUID()}, 1, 4, ${created}, ${created}, ${created})`;
  await db()`
    insert into attempts (run_id, run_created_at, number, outcome, error_message, error_class, started_at, finished_at)
    values (${id}, ${created}, 1, 'deferred', 'circuit accounting-api is open until later: deferred, no attempt used', 'CircuitOpenError', ${created}, ${created})`;
  await db()`
    insert into attempts (run_id, run_created_at, number, outcome, started_at, finished_at)
    values (${id}, ${created}, 1, 'succeeded', ${created}, ${created})`;
  await signIn(page, 'vera', `/runs/${id}`);
  const used = page.getByText('Attempts used', { exact: true }).locator('..');
  // Before: "Attempts 1 of 4" above two attempts, one of them deferred, and nothing said why.
  await expect(used).toContainText('1 of 4');
  await expect(page.getByTestId('uncounted-attempts')).toHaveText('1 more not counted (deferred, handed back or interrupted)');
  await expect(page.getByRole('listitem').filter({ hasText: 'Attempt 1' })).toHaveCount(2);
});
