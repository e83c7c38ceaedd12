import { expect, type Locator, type Page } from '@playwright/test';

/** Checks that hold on every console page: layout on small screens, text size, keyboard reach. */
export class ConsolePage {
  constructor(private readonly page: Page) {}

  /** Widths that overflow: the page itself, and any table wrapper that would scroll sideways. */
  async horizontalOverflow(): Promise<string[]> {
    return this.page.evaluate(() => {
      const out: string[] = [];
      const root = document.documentElement;
      if (root.scrollWidth > root.clientWidth + 1) out.push(`page ${root.scrollWidth} > ${root.clientWidth}`);
      for (const el of document.querySelectorAll<HTMLElement>('main *')) {
        const style = getComputedStyle(el);
        if (!/(auto|scroll)/.test(style.overflowX) || el.tagName === 'PRE' || el.tagName === 'TEXTAREA') continue;
        if (el.scrollWidth > el.clientWidth + 1)
          out.push(`${el.tagName.toLowerCase()}.${el.className.toString().slice(0, 60)} ${el.scrollWidth} > ${el.clientWidth}`);
      }
      return out;
    });
  }

  /** Visible text smaller than 12 px, as "font-size: text". */
  async textUnder12px(): Promise<string[]> {
    return this.page.evaluate(() => {
      const out: string[] = [];
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.textContent?.trim();
        const el = node.parentElement;
        if (!text || !el) continue;
        const rect = el.getBoundingClientRect();
        if (rect.width === 0 || rect.height === 0) continue;
        const style = getComputedStyle(el);
        if (style.visibility === 'hidden' || style.display === 'none') continue;
        const size = parseFloat(style.fontSize);
        if (size < 12) out.push(`${size}px: ${text.slice(0, 40)}`);
      }
      return out;
    });
  }

  /** Presses Tab until `target` has focus; returns the number of presses (or Infinity past `max`). */
  async tabsUntilFocused(target: Locator, max = 80): Promise<number> {
    for (let presses = 1; presses <= max; presses++) {
      await this.page.keyboard.press('Tab');
      if (await target.evaluate((el) => el === document.activeElement)) return presses;
    }
    return Infinity;
  }

  async expectFocused(target: Locator) {
    await expect.poll(() => target.evaluate((el) => el === document.activeElement)).toBe(true);
  }
}
