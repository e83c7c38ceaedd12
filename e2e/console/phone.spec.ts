import { db } from '../db';
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

test('a signed webhook channel with a long address keeps its badge and its Target label on a phone', async ({ page }) => {
  const name = `signed-${Date.now()}`;
  // Disabled: no alert is ever sent to this made-up receiver.
  await db()`
    insert into alert_channels (name, type, config, sealed_secret, enabled)
    values (${name}, 'webhook', ${db().json({ url: `https://hooks.example.com/${'very-long-path-segment/'.repeat(6)}in` })}, 'sealed-for-the-test', false)`;
  try {
    await signIn(page, 'ada', '/alerts');
    const consolePage = new ConsolePage(page);
    const row = page.getByRole('row').filter({ hasText: name });
    const badge = row.getByText('signed', { exact: true });
    // The badge was inside the truncated cell: cut off at 1280 px, and the cell overflowed at 390.
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 844 });
      // The row, not the badge: scrolling the badge into view would scroll the clipping cell too.
      await page.evaluate((channel) => {
        const tr = [...document.querySelectorAll('tr')].find((r) => r.textContent?.includes(channel));
        window.scrollTo(0, (tr?.getBoundingClientRect().top ?? 0) + window.scrollY - 100);
      }, name);
      const shown = await badge.evaluate((el) => {
        const r = el.getBoundingClientRect();
        const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
        return hit !== null && el.contains(hit);
      });
      expect(shown, `badge at ${width} px`).toBe(true);
      expect(await consolePage.horizontalOverflow(), `${width} px`).toEqual([]);
    }
  } finally {
    await db()`delete from alert_channels where name = ${name}`;
  }
});

test('on a 390 px phone the config review shows a long new value whole, and its Save button on screen', async ({ page }) => {
  await signIn(page, 'ada', '/integrations/crm-sync/config');
  const long = 'https://api.salesforce.example.com/services/data/v59.0/sobjects/Contact/very-long-segment';
  await page.getByLabel('baseUrl').fill(long);
  await page.getByRole('button', { name: 'Review changes' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByTestId('config-diff')).toContainText(long);
  // Before: the value, the description and the Save button ran off the right edge.
  await expect(dialog.getByRole('button', { name: 'Save 1 change' })).toBeInViewport({ ratio: 1 });
  const newValue = dialog.locator('code').filter({ hasText: long });
  const box = await newValue.boundingBox();
  expect(box!.x + box!.width).toBeLessThanOrEqual(390);
  expect(await dialog.evaluate((el) => el.scrollWidth - el.clientWidth)).toBeLessThanOrEqual(1);
  await dialog.getByRole('button', { name: 'Keep editing' }).click();
});
