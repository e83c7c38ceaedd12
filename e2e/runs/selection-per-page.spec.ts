import { expect, seedFailedRuns, signIn, test } from '../fixtures';
import { RunsPage } from '../pages/runs-page';

test('a run ticked on one page of the runs list is not selected on another, nor after Back and Forward', async ({ page }) => {
  // Five page loads and two history steps: more than the default minute on a loaded machine.
  test.slow();
  // Enough failed runs for two pages of two, each with runs to tick.
  await seedFailedRuns('accounting-export', 4, 'selection seed: ERP answered 503');
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=accounting-export&status=failed&limit=2');
  await page
    .getByRole('checkbox', { name: /^Select run / })
    .first()
    .check();
  await expect(page.getByRole('button', { name: 'Retry selected (1)' })).toBeEnabled();

  await page.getByRole('link', { name: 'Older runs →' }).click();
  await expect(page).toHaveURL(/after=/);
  const retrySelected = page.getByRole('button', { name: /^Retry selected/ });
  await expect(retrySelected).toHaveText('Retry selected (0)');
  await expect(retrySelected).toBeDisabled();
  for (const box of await page.getByRole('checkbox', { name: /^Select run / }).all()) await expect(box).not.toBeChecked();

  await page.goBack();
  await expect(page).not.toHaveURL(/after=/);
  await expect(retrySelected).toHaveText('Retry selected (0)');
  await page.goForward();
  await expect(page).toHaveURL(/after=/);
  await expect(retrySelected).toHaveText('Retry selected (0)');
  await expect(retrySelected).toBeDisabled();
});
