import type { Locator, Page } from '@playwright/test';
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
    // Whatever it says: a full check run by an earlier spec may have found the channels other
    // specs insert directly ("Config changed outside the console"), the longest text it has.
    await expect(badge).toBeVisible();
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

/** For each option of a select: its label, and whether it fits the closed control (text + padding + the arrow). */
function optionFits(select: Locator) {
  return select.evaluate((el: HTMLSelectElement) => {
    const style = getComputedStyle(el);
    const context = document.createElement('canvas').getContext('2d')!;
    context.font = style.font;
    const room =
      el.getBoundingClientRect().width -
      parseFloat(style.paddingLeft) -
      parseFloat(style.paddingRight) -
      parseFloat(style.borderLeftWidth) -
      parseFloat(style.borderRightWidth) -
      20; // Chromium's drop-down arrow
    return [...el.options].map((o) => ({ label: o.label, fits: context.measureText(o.label).width <= room }));
  });
}

async function statusWidths(page: Page): Promise<number[]> {
  const status = page.getByLabel('Status', { exact: true });
  const values = await status.evaluate((el: HTMLSelectElement) => [...el.options].map((o) => o.value));
  const widths: number[] = [];
  for (const value of values) {
    await status.selectOption(value);
    widths.push(Math.round((await status.boundingBox())!.width));
  }
  return widths;
}

test('Runs: the Status filter fits every status label at desktop and phone widths, keeps its width, and stays on screen', async ({
  page,
}) => {
  await signIn(page, 'oscar');
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 800 });
    await page.goto('/runs');
    const status = page.getByLabel('Status', { exact: true });
    await expect(status).toBeVisible();
    const notFitting = (await optionFits(status)).filter((o) => !o.fits).map((o) => o.label);
    expect(notFitting, `labels cut off at ${width} px`).toEqual([]);
    const widths = await statusWidths(page);
    expect(new Set(widths).size, `widths at ${width} px: ${widths.join(', ')}`).toBe(1);
    const box = (await status.boundingBox())!;
    expect(box.x + box.width, `right edge at ${width} px`).toBeLessThanOrEqual(width - 16);
    await status.selectOption('active');
    await page.screenshot({ path: `test-results/screenshots/runs-status-${width}.png` });
    expect(await new ConsolePage(page).horizontalOverflow()).toEqual([]);
  }
});
