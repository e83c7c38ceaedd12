import { randomUUID } from 'node:crypto';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

/**
 * A time said in seconds counts on by itself, every second: on a live card "11 seconds ago" stood
 * still for 15 s (every relative time ticked every 15 s, whatever it said). The page's clock is
 * Playwright's, moved by hand, so nothing here waits on the wall clock.
 */
test('a relative time in seconds moves on every second, with the exact time on hover', async ({ page }) => {
  const id = randomUUID();
  const created = new Date(Date.now() - 20_000);
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, error_message, error_class, created_at, started_at, finished_at)
    values (${id}, 'crm-sync', 'schedule', 'failed', 'schedule', ${randomUUID()}, 1, 4, 'relative-time seed', 'HttpError', ${created}, ${created}, ${created})`;
  await signIn(page, 'vera');
  await page.clock.install();
  await page.goto(`/runs/${id}`);
  const createdAt = page.getByText(/created \d+ seconds ago/);
  await expect(createdAt).toBeVisible();
  const seconds = async () => Number(/created (\d+) seconds ago/.exec((await createdAt.textContent()) ?? '')?.[1]);
  // Paused: the page's time moves only by runFor. Flowing, it moved with the wall clock while the
  // test polled, and the old component's 15 s tick passed this test.
  // It moves in quarter seconds with a pause between, so the page renders between ticks as it would
  // in real time (a render and its effects run outside runFor).
  await page.clock.pauseAt(Date.now() + 2_000);
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 250) {
      await page.clock.runFor(250);
      await page.waitForTimeout(50);
    }
  };
  const before = await seconds();
  await advance(2_000);
  await expect.poll(seconds).toBeGreaterThanOrEqual(before + 1);
  expect(await seconds()).toBeLessThanOrEqual(before + 2);
  await advance(3_000);
  await expect.poll(seconds).toBeGreaterThanOrEqual(before + 4);
  await expect(page.locator(`time[datetime="${created.toISOString()}"]`).first()).toHaveAttribute(
    'title',
    `${created.toISOString().replace('T', ' ').slice(0, 19)} UTC`,
  );
});
