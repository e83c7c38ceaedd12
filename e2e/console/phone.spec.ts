import { expect, seedFailedRuns, signIn, test } from '../fixtures';
import { ConsolePage } from '../pages/console-page';
import { RunsPage } from '../pages/runs-page';

test.use({ viewport: { width: 390, height: 844 } });

test('on a 390 px phone the Runs table is stacked rows: Retry and the timings are visible, nothing scrolls sideways', async ({ page }) => {
  test.setTimeout(180_000);
  const [failed] = await seedFailedRuns('crm-sync', 1, 'phone seed: CRM answered 503');
  await signIn(page, 'oscar');
  const runs = new RunsPage(page);
  await runs.goto('integration=crm-sync&status=failed');
  const row = runs.row(failed);
  const retry = row.getByRole('button', { name: 'Retry' });
  // Down to the row (bulk retries of earlier specs may sit above the table); sideways must not be needed.
  await row.scrollIntoViewIfNeeded();
  expect(await page.evaluate(() => window.scrollX)).toBe(0);
  await expect(retry).toBeInViewport({ ratio: 1 });
  // The timings are in the card, on screen, labelled (the labels come from the cells' data-label).
  for (const label of ['Created', 'Duration', 'Attempts']) {
    const cell = row.locator(`td[data-label="${label}"]`);
    await expect(cell).toBeInViewport();
    expect(await cell.evaluate((el) => getComputedStyle(el, '::before').content)).toBe(`"${label}"`);
  }
  const box = await row.boundingBox();
  expect(box!.x + box!.width).toBeLessThanOrEqual(390);
  expect(await new ConsolePage(page).horizontalOverflow()).toEqual([]);
});

test('on a 390 px phone Audit, History, Mapping and the other pages neither scroll sideways nor use text under 12 px', async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page, 'ada');
  const consolePage = new ConsolePage(page);
  const problems: string[] = [];
  for (const path of [
    '/',
    '/integrations',
    '/integrations/accounting-export',
    '/integrations/accounting-export/config',
    '/integrations/accounting-export/history',
    '/integrations/accounting-export/mapping',
    '/runs',
    '/alerts',
    '/audit?window=30d',
    '/users',
    '/users/tokens',
  ]) {
    await page.goto(path);
    await expect(page.getByRole('heading', { level: 1 }).first()).toBeVisible();
    problems.push(...(await consolePage.horizontalOverflow()).map((p) => `${path} overflows: ${p}`));
    problems.push(...(await consolePage.textUnder12px()).map((p) => `${path} small text ${p}`));
  }
  expect(problems).toEqual([]);
  // A mapping row on a phone is a card: its expression input fits the screen.
  await page.goto('/integrations/accounting-export/mapping');
  const expression = page.getByLabel('Expression for description');
  await expression.scrollIntoViewIfNeeded();
  await expect(expression).toBeInViewport();
  const box = await expression.boundingBox();
  expect(box!.x + box!.width).toBeLessThanOrEqual(390);
});
