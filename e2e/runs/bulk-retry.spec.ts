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
