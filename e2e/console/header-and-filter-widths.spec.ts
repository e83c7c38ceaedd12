import type { Locator } from '@playwright/test';
import { expect, signIn, test } from '../fixtures';
import { ConsolePage } from '../pages/console-page';

/** The desktop the console is built for, the phone of the other specs, and the most common Android width. */
const WIDTHS = [1280, 390, 360];

const left = async (locator: Locator) => (await locator.boundingBox())!.x;

test('Audit: the chain status badge lines up with its anchor line, the heading and the filters', async ({ page }) => {
  await signIn(page, 'ada');
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 800 });
    await page.goto('/audit?window=30d');
    const badge = page.getByTestId('chain-status');
    await expect(badge).toContainText('Chain intact');
    await page.screenshot({ path: `test-results/screenshots/audit-header-${width}.png` });
    const heading = await left(page.getByRole('heading', { level: 1 }));
    const lefts = {
      badge: await left(badge),
      anchors: await left(page.getByTestId('chain-anchors')),
      filters: await left(page.getByRole('form', { name: 'Filter the audit trail' })),
    };
    // Within a pixel of the heading's left edge: one column, not a badge pushed to the right above a line on the left.
    for (const [what, x] of Object.entries(lefts)) expect(Math.abs(x - heading), `${what} at ${width} px`).toBeLessThanOrEqual(1);
    // The badge's text is on one line inside it, not cut off.
    expect(await badge.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
    expect(await new ConsolePage(page).horizontalOverflow()).toEqual([]);
  }
});
