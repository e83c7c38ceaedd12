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
  // Counted in two parts so that runs other specs add above ours (a running run has no Retry)
  // cannot move the count: the page chrome and the filters up to the table, then one row.
  const selectAll = page.getByRole('checkbox', { name: 'Select all runs that can be retried' });
  const firstRetry = page.getByRole('button', { name: /^Retry run / }).first();
  const toTable = await consolePage.tabsUntilFocused(selectAll);
  console.log(`Tab presses to the runs table: ${toTable} from the top of the page`);
  // Skip link, 6 header links, 2 sign-out buttons, 4 selects, the time range (one stop), Filter:
  // 16, with room for a banner (an open incident) that other specs may leave.
  expect(toTable).toBeLessThanOrEqual(20 + (await page.getByTestId('bulk-operation').getByRole('link').count()));
  // The filters alone: 4 selects, the time range as one stop, Filter, then the table; plus the
  // links of the bulk retry cards between them (to each one's retries and failed retries), which
  // other specs' bulk retries may have left.
  await page.getByRole('combobox', { name: 'Integration' }).focus();
  const bulkLinks = await page.getByTestId('bulk-operation').getByRole('link').count();
  expect(await consolePage.tabsUntilFocused(selectAll, 20)).toBeLessThanOrEqual(6 + bulkLinks);
  const row = page.getByRole('row').filter({ has: firstRetry }).first();
  await row.getByRole('checkbox').focus();
  const inRow = await consolePage.tabsUntilFocused(firstRetry, 10);
  console.log(`Tab presses from a row's first control to its Retry: ${inRow}`);
  expect(inRow).toBeLessThanOrEqual(3);
  // Through the skip link the table is a few presses away. Wait for the table first: until the
  // runs list has loaded, the page may still replace what has focus (CI once counted from the top).
  await page.goto('/runs');
  await expect(selectAll).toBeVisible();
  expect(await consolePage.tabsUntilFocused(page.getByRole('link', { name: 'Skip to main content' }), 1)).toBe(1);
  await page.keyboard.press('Enter');
  await consolePage.expectFocused(page.locator('main'));
  const viaSkip = await consolePage.tabsUntilFocused(selectAll);
  console.log(`Tab presses to the runs table: ${viaSkip} after the skip link`);
  expect(viaSkip).toBeLessThanOrEqual(9 + (await page.getByTestId('bulk-operation').getByRole('link').count()));
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

test('confirming an action from the keyboard gives focus back to the button that opened it', async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page, 'oscar', '/integrations/crm-sync');
  const consolePage = new ConsolePage(page);
  const dryRun = page.getByRole('button', { name: 'Dry-run', exact: true });
  await dryRun.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Dry-run crm-sync?' });
  await dialog.getByRole('button', { name: 'Start dry-run' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByText('Dry-run started.')).toBeVisible();
  await expect(dialog).toHaveCount(0);
  // Before, the trigger was disabled while the action ran, and focus fell to the page's body.
  await consolePage.expectFocused(dryRun);
});

test('retrying a run of a list from the keyboard leaves focus on that row, on its link to the retry', async ({ page }) => {
  test.setTimeout(180_000);
  const [failed] = await seedFailedRuns('crm-sync', 1, 'keyboard seed: CRM answered 503');
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  await runs.row(failed).getByRole('button', { name: 'Retry' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Retry run' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByText('Retry started as run')).toBeVisible();
  // The Retry button is gone (the run is retried): focus fell to the page's body, and the next Tab
  // started again from the skip link. It goes to what replaced the button, the link to the retry.
  const retried = runs.row(failed).getByRole('link', { name: /retried/ });
  await expect(retried).toBeVisible();
  await new ConsolePage(page).expectFocused(retried);
});

test('Retry selected from the keyboard leaves focus on the first retried row, not on the page', async ({ page }) => {
  test.setTimeout(180_000);
  const [older, newer] = await seedFailedRuns('crm-sync', 2, 'keyboard seed: CRM answered 503');
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  await runs.select(older);
  await runs.select(newer);
  await page.getByRole('button', { name: 'Retry selected (2)' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('dialog').getByRole('button', { name: 'Retry 2 runs' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByText('2 retries queued as one bulk operation.')).toBeVisible();
  // Newest first: the newer run is the first of the two in the list. The bulk button it was on is
  // disabled once nothing is selected, and focus fell to the page's body.
  const retried = runs.row(newer).getByRole('link', { name: /retried/ });
  await expect(retried).toBeVisible();
  await new ConsolePage(page).expectFocused(retried);
});
