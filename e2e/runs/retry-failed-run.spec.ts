import { db } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';
import { RunsPage } from '../pages/runs-page';

test('operator retries a failed run and sees the new run succeed', async ({ page }) => {
  const [failed] = await seedFailedRuns('crm-sync', 1);
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  await runs.retry(failed);
  await expect(page.getByText('Retry started.')).toBeVisible();
  await page.getByRole('link', { name: 'Open the new run' }).click();
  await expect(page).toHaveURL(/\/runs\/[0-9a-f-]{36}$/);
  await expect(page.getByRole('heading', { name: /^Run / })).toBeVisible();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Succeeded', { timeout: 45_000 });
  await expect(page.getByRole('link', { name: `run ${failed.slice(0, 8)}` })).toBeVisible();
  const [retry] = await db()<{ trigger: string; triggered_by: string; status: string }[]>`select trigger, triggered_by, status from runs where retry_of = ${failed}`;
  expect(retry).toEqual({ trigger: 'retry', triggered_by: 'oscar.operator@junction.local', status: 'succeeded' });
  await page.screenshot({ path: 'test-results/screenshots/run-detail.png', fullPage: true });
});
