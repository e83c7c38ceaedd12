import { expect, seedFailedRuns, signIn, test } from '../fixtures';
import { ConsolePage } from '../pages/console-page';
import { RunsPage } from '../pages/runs-page';

test('a skip link is the first Tab stop and moves focus to the main content', async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page, 'oscar', '/runs');
  const consolePage = new ConsolePage(page);
  const skip = page.getByRole('link', { name: 'Skip to main content' });
  expect(await consolePage.tabsUntilFocused(skip, 1)).toBe(1);
  await expect(skip).toBeVisible();
  await page.keyboard.press('Enter');
  await consolePage.expectFocused(page.locator('main'));
});

test('the first Retry on Runs is a few Tab presses away (the time filters are one stop, not a dozen)', async ({ page }) => {
  test.setTimeout(180_000);
  await seedFailedRuns('crm-sync', 1, 'keyboard seed: CRM answered 503');
  await signIn(page, 'oscar', '/runs');
  const consolePage = new ConsolePage(page);
  const firstRetry = page.getByRole('button', { name: 'Retry', exact: false }).filter({ hasNotText: 'selected' }).first();
  const fromTop = await consolePage.tabsUntilFocused(firstRetry);
  console.log(`Tab presses to the first Retry: ${fromTop} from the top of the page`);
  expect(fromTop).toBeLessThanOrEqual(22);
  // Through the skip link it is shorter still.
  await page.goto('/runs');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  const viaSkip = await consolePage.tabsUntilFocused(firstRetry);
  console.log(`Tab presses to the first Retry: ${viaSkip} after the skip link`);
  expect(viaSkip).toBeLessThanOrEqual(12);
});

test('Escape from a dialog returns focus to the control that opened it: config review, run retry', async ({ page }) => {
  test.setTimeout(180_000);
  const [failed] = await seedFailedRuns('crm-sync', 1, 'keyboard seed: CRM answered 503');
  await signIn(page, 'ada', '/integrations/accounting-export/config');
  const consolePage = new ConsolePage(page);
  await page.getByLabel('Breaker cooldown').fill('7m');
  const review = page.getByRole('button', { name: 'Review changes' });
  await review.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('dialog', { name: 'Save these changes?' })).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await consolePage.expectFocused(review);

  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  const retry = runs.row(failed).getByRole('button', { name: 'Retry' });
  await retry.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('dialog')).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await consolePage.expectFocused(retry);
});
