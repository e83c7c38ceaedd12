import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

const pauses = async () =>
  (await db()<{ n: number }[]>`select count(*)::int as n from audit_log where integration = 'crm-sync' and field_name = 'pause'`)[0].n;

test('pausing what another operator paused meanwhile says who did, changes nothing, and shows the integration paused', async ({
  page,
  browser,
}) => {
  await signIn(page, 'oscar', '/integrations/crm-sync');
  await expect(page.getByRole('button', { name: 'Pause' })).toBeVisible();
  // Oscar's page is left behind: its live updates (e2e/console/live-updates.spec.ts) would show Ada's
  // pause within seconds, so they are held back here, as a slow or cut connection would.
  await page.route('**/api/changes**', (route) => route.abort());
  const other = await browser.newContext();
  try {
    // Ada pauses it from her own browser while Oscar's page still offers Pause.
    const theirs = await other.newPage();
    await signIn(theirs, 'ada', '/integrations/crm-sync');
    await theirs.getByRole('button', { name: 'Pause' }).click();
    await theirs.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
    await expect(theirs.getByRole('button', { name: 'Resume' })).toBeVisible();
    const before = await pauses();

    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
    await expect(page.locator('[data-sonner-toast]')).toContainText(
      /crm-sync was already paused by ada\.admin@junction\.local at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: nothing changed/,
    );
    await expect(page.getByRole('button', { name: 'Resume' })).toBeVisible();
    expect(await pauses()).toBe(before);
  } finally {
    await other.close();
    await page.unroute('**/api/changes**');
    await page.goto('/integrations/crm-sync');
    if (await page.getByRole('button', { name: 'Resume' }).isVisible()) {
      await page.getByRole('button', { name: 'Resume' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Resume' }).click();
      await expect(page.getByRole('button', { name: 'Pause' })).toBeVisible();
    }
  }
});

test('after Pause the keyboard is on Resume, and after Resume on Pause: the button that replaced the one pressed', async ({ page }) => {
  await signIn(page, 'oscar', '/integrations/crm-sync');
  const pause = page.getByRole('button', { name: 'Pause', exact: true });
  await expect(pause).toBeVisible();
  await pause.focus();
  await page.keyboard.press('Enter');
  await page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
  // Before: the refresh removed Pause and focus fell back to the page's main region.
  await expect(page.getByRole('button', { name: 'Resume', exact: true })).toBeFocused();
  await page.keyboard.press('Enter');
  await page.getByRole('dialog').getByRole('button', { name: 'Resume' }).click();
  await expect(pause).toBeFocused();
});
