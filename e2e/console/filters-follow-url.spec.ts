import type { Page } from '@playwright/test';
import { expect, signIn, test } from '../fixtures';

/**
 * A list page's filter controls say what the list below them shows, also when the address changes
 * without a page load: the Clear link, Back and Forward. (A select keeps the option it showed when
 * the page re-renders with another default, so the form would claim a filter the list no longer has.)
 */
async function expectControls(page: Page, form: string, values: Record<string, string>) {
  const filters = page.getByRole(form === 'search' ? 'search' : 'form', form === 'search' ? {} : { name: form });
  // One form: a second one left behind would show the old filter beside the new.
  await expect(filters).toHaveCount(1);
  for (const [name, value] of Object.entries(values)) {
    await expect(filters.locator(`[name="${name}"]`), `${name} after ${page.url()}`).toHaveValue(value);
  }
}

test('the Runs filters show the filter of the address after Clear, Back and Forward', async ({ page }) => {
  await signIn(page, 'oscar', '/runs?integration=crm-sync&status=failed&trigger=schedule&dryRun=exclude');
  const filtered = { integration: 'crm-sync', status: 'failed', trigger: 'schedule', dryRun: 'exclude' };
  const cleared = { integration: '', status: '', trigger: '', dryRun: '' };
  await expectControls(page, 'Filter runs', filtered);
  await page.getByRole('link', { name: 'Clear' }).click();
  await expect(page).toHaveURL(/\/runs$/);
  await expectControls(page, 'Filter runs', cleared);
  await page.goBack();
  await expect(page).toHaveURL(/status=failed/);
  await expectControls(page, 'Filter runs', filtered);
  await page.goForward();
  await expect(page).toHaveURL(/\/runs$/);
  await expectControls(page, 'Filter runs', cleared);
});

test('the Integrations and Events filters show the filter of the address after Clear and Back', async ({ page }) => {
  await signIn(page, 'oscar', '/integrations?state=failing');
  await expectControls(page, 'search', { state: 'failing' });
  await page.getByRole('link', { name: 'Clear' }).click();
  await expect(page).toHaveURL(/\/integrations$/);
  await expectControls(page, 'search', { state: '' });
  await page.goBack();
  await expect(page).toHaveURL(/state=failing/);
  await expectControls(page, 'search', { state: 'failing' });

  await page.goto('/integrations/payment-events/events?status=failed&type=payment.succeeded');
  await expectControls(page, 'Filter events', { status: 'failed', type: 'payment.succeeded' });
  await page.getByRole('link', { name: 'Clear', exact: true }).click();
  await expect(page).toHaveURL(/\/events$/);
  await expectControls(page, 'Filter events', { status: '', type: '' });
  await page.goBack();
  await expect(page).toHaveURL(/status=failed/);
  await expectControls(page, 'Filter events', { status: 'failed', type: 'payment.succeeded' });
});

test('after filtering with the form and going Back, the Runs filters show the address, not the values chosen', async ({ page }) => {
  await signIn(page, 'oscar', '/runs');
  const form = page.getByRole('form', { name: 'Filter runs' });
  await form.locator('[name="integration"]').selectOption('crm-sync');
  await form.locator('[name="status"]').selectOption('failed');
  await form.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/integration=crm-sync/);
  await page.goBack();
  await expect(page).toHaveURL(/\/runs$/);
  // Before: the page loaded unfiltered and Chromium put back "crm-sync" and "failed" in the selects.
  await expectControls(page, 'Filter runs', { integration: '', status: '' });
});
