import { expect, seedFailedRuns, signIn, test } from '../fixtures';

/**
 * A filter the list cannot apply as written is said, and the form shows what the list is filtered
 * by: a misspelt integration is not answered "No runs" under "All integrations", a repeated
 * parameter is not read in silence as its first value.
 */

test('an integration that does not exist is named with the name it probably meant, and the list is not filtered by it', async ({
  page,
}) => {
  const [runId] = await seedFailedRuns('crm-sync', 1, 'unknown filter seed: CRM answered 503');
  await signIn(page, 'vera', '/runs?integration=crm_sync&status=failed');
  const notice = page.getByRole('alert').filter({ hasText: 'were ignored' });
  await expect(notice).toContainText("integration: no integration is named 'crm_sync'; did you mean 'crm-sync'?");
  // Before: "No runs" under "All integrations", read as "no failed runs".
  const form = page.getByRole('form', { name: 'Filter runs' });
  await expect(form.getByLabel('Integration')).toHaveValue('');
  await expect(form.getByLabel('Status')).toHaveValue('failed');
  await expect(page.getByTestId(`run-row-${runId}`)).toBeVisible();
  await expect(page.getByText('No run matches these filters')).toHaveCount(0);

  // The name it meant filters, and nothing is said.
  await page.goto('/runs?integration=crm-sync&status=failed');
  await expect(page.getByRole('form', { name: 'Filter runs' }).getByLabel('Integration')).toHaveValue('crm-sync');
  await expect(page.getByRole('alert').filter({ hasText: 'were ignored' })).toHaveCount(0);
  await expect(page.getByTestId(`run-row-${runId}`)).toBeVisible();
});

test('a repeated parameter is said to be read once, with the value read', async ({ page }) => {
  await signIn(page, 'vera', '/runs?status=failed&status=cancelled');
  await expect(page.getByRole('alert').filter({ hasText: 'were ignored' })).toContainText(
    "status: given 2 times; only the first, 'failed', is read",
  );
  await expect(page.getByRole('form', { name: 'Filter runs' }).getByLabel('Status')).toHaveValue('failed');
});

test('the Alerts and Audit lists say an integration that does not exist the same way', async ({ page }) => {
  await signIn(page, 'vera', '/alerts?integration=crm_sync');
  await expect(page.getByRole('alert').filter({ hasText: 'were ignored' })).toContainText(
    "integration: no integration is named 'crm_sync'; did you mean 'crm-sync'?",
  );
  await expect(page.getByRole('form', { name: 'Filter alerts' }).getByLabel('Integration')).toHaveValue('');
  await page.goto('/audit?integration=crm_sync');
  await expect(page.getByRole('alert').filter({ hasText: 'were ignored' })).toContainText(
    "integration: no integration is named 'crm_sync'; did you mean 'crm-sync'?",
  );
  await expect(page.getByLabel('Integration')).toHaveValue('');
});
