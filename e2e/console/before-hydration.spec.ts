import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from '@playwright/test';
import { db } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';

/** A slow network: the page's HTML (with its buttons) arrives long before its scripts. */
async function slowScripts(page: Page) {
  await page.route('**/_next/static/chunks/**', async (route) => {
    await sleep(1_500);
    await route.continue();
  });
}

/** A failed run's page, its HTML shown and its scripts still on the way: its Retry button. */
async function failedRunBeforeHydration(page: Page) {
  const [failed] = await seedFailedRuns('crm-sync', 1, 'hydration seed: CRM answered 503');
  await signIn(page, 'oscar');
  await slowScripts(page);
  await page.goto(`/runs/${failed}`, { waitUntil: 'commit' });
  const retry = page.getByRole('button', { name: 'Retry', exact: true });
  await expect(retry).toBeVisible();
  return retry;
}

test.afterEach(async ({ page }) => {
  await page.unrouteAll({ behavior: 'ignoreErrors' });
});

test("a click on Retry before the page's JavaScript has run is not lost", async ({ page }) => {
  const retry = await failedRunBeforeHydration(page);
  // Once this click landed on the server-rendered button, did nothing and was gone.
  await retry.click();
  expect(await page.evaluate(() => document.documentElement.hasAttribute('data-hydrated'))).toBe(false);
  await expect(retry).toHaveAttribute('data-early', '');
  await expect(page.getByRole('button', { name: 'Retry run' })).toBeVisible();
  await expect(page.locator('[data-early]')).toHaveCount(0);
});

test('Enter on a focused button before the scripts have run opens its dialog once they have', async ({ page }) => {
  const retry = await failedRunBeforeHydration(page);
  await retry.focus();
  await page.keyboard.press('Enter');
  expect(await page.evaluate(() => document.documentElement.hasAttribute('data-hydrated'))).toBe(false);
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByRole('button', { name: 'Retry run' })).toBeVisible();
  // Held once, given to React once: one dialog, and Escape closes it.
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
});

test('a token named and submitted before the scripts have run is created, its name kept out of the URL', async ({ page }) => {
  await signIn(page, 'ada');
  await slowScripts(page);
  await page.goto('/users/tokens', { waitUntil: 'commit' });
  const name = page.getByLabel('Name');
  await expect(name).toBeVisible();
  const tokenName = `early-${Date.now()}`;
  await name.fill(tokenName);
  await page.locator('#token-role').selectOption('operator');
  // Without the page's scripts, Enter submitted the form natively: a GET of ?name=… and no token.
  await name.press('Enter');
  expect(await page.evaluate(() => document.documentElement.hasAttribute('data-hydrated'))).toBe(false);
  await expect(page.getByText(`Token ${tokenName} created`)).toBeVisible();
  expect(new URL(page.url()).search).toBe('');
  // What was chosen before the scripts ran counts too: the role, not the form's default.
  await expect(page.getByRole('row', { name: new RegExp(tokenName) }).locator('[data-label="Role"]')).toHaveText('operator');
});

test('a role chosen before the scripts have run asks once, and Cancel closes it for good', async ({ page, browser }) => {
  // Vera is listed after her first sign-in.
  const other = await browser.newContext();
  await signIn(await other.newPage(), 'vera');
  await other.close();
  await signIn(page, 'ada');
  await slowScripts(page);
  await page.goto('/users', { waitUntil: 'commit' });
  const role = page.getByLabel('Role of Vera Viewer');
  await expect(role).toBeVisible();
  await role.selectOption('admin');
  expect(await page.evaluate(() => document.documentElement.hasAttribute('data-hydrated'))).toBe(false);
  const dialog = page.getByRole('dialog');
  await expect(dialog).toContainText('Make Vera Viewer an admin?');
  // The select keeps showing the saved role until the change is confirmed. The early value was
  // given again every 50 ms while the select showed it, reopening this under each Cancel.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await sleep(1_000);
  await expect(dialog).toHaveCount(0);
  await expect(role).toHaveValue('viewer');
  const [vera] = await db()<{ role: string }[]>`select role from users where email like 'vera.%'`;
  expect(vera.role).toBe('viewer');
});
