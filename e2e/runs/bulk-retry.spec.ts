import { randomUUID } from 'node:crypto';
import { db } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';
import { RunsPage } from '../pages/runs-page';

test('operator selects three failed runs and retries them together', async ({ page }) => {
  const failed = await seedFailedRuns('crm-sync', 3, 'bulk-retry seed: CRM answered 502');
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  for (const id of failed) await runs.select(id);
  await page.screenshot({ path: 'test-results/screenshots/runs-bulk-selection.png', fullPage: true });
  await runs.retrySelected(3);
  await expect(page.getByText('3 retries queued as one bulk operation.')).toBeVisible();
  await expect(page.getByTestId('bulk-operation').first()).toContainText('3 retries of crm-sync');
  await expect
    .poll(
      async () =>
        (await db()<{ n: number }[]>`select count(*)::int as n from runs where retry_of = any(${failed}) and status = 'succeeded'`)[0].n,
      { timeout: 90_000 },
    )
    .toBe(3);
  for (const id of failed) {
    await expect(runs.row(id).getByRole('link', { name: 'retried →' })).toBeVisible({ timeout: 15_000 });
  }
});

test('a bulk retry refused because a selected run was retried meanwhile shows that run retried and keeps the others selected', async ({
  page,
}) => {
  const failed = await seedFailedRuns('crm-sync', 3, 'bulk-retry seed: retried meanwhile');
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  for (const id of failed) await runs.select(id);
  // Another operator retries the second one while this page is open.
  const theirs = randomUUID();
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, retry_of, attempt_count, max_attempts, created_at)
    values (${theirs}, 'crm-sync', 'retry', 'queued', 'grace.admin@junction.local', ${randomUUID()}, ${failed[1]}, 0, 4, now())`;
  await runs.retrySelected(3);
  await expect(page.locator('[data-sonner-toast]').filter({ hasText: 'already retried' })).toBeVisible();
  // The list now says what is true: that run is retried (no checkbox), the other two stay ticked.
  await expect(runs.row(failed[1]).getByRole('link', { name: 'retried →' })).toBeVisible();
  await expect(page.getByRole('checkbox', { name: `Select run ${failed[1].slice(0, 8)}` })).toHaveCount(0);
  await runs.retrySelected(2);
  await expect(page.getByText('2 retries queued as one bulk operation.')).toBeVisible();
  const retried = await db()<{ retry_of: string }[]>`select retry_of from runs where retry_of = any(${failed}) and id <> ${theirs}`;
  expect(retried.map((r) => r.retry_of).sort()).toEqual([failed[0], failed[2]].sort());
});
