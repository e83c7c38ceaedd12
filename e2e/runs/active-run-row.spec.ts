import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { db } from '../db';
import { expect, signIn, test } from '../fixtures';
import { RunsPage } from '../pages/runs-page';

test('a running run in the runs list hydrates without errors, its duration ticks and its count shows', async ({ page }) => {
  // Running for 80 s, with a count of what it processed and no total (as crm-sync reports it).
  const id = randomUUID();
  await db()`
    insert into runs (id, integration, trigger, status, triggered_by, correlation_id, attempt_count, max_attempts, progress_done, created_at, started_at)
    values (${id}, 'accounting-export', 'manual', 'running', 'e2e', ${randomUUID()}, 1, 4, 1234, now() - interval '80 seconds', now() - interval '80 seconds')`;
  try {
    await signIn(page, 'oscar');
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    // The scripts arrive well after the HTML: the browser hydrates seconds after the server rendered.
    await page.route('**/_next/static/chunks/**', async (route) => {
      await sleep(1_500);
      await route.continue();
    });
    const runs = new RunsPage(page);
    await runs.goto('integration=accounting-export');
    const row = runs.row(id);
    await expect(row).toContainText('1234 items processed');
    // Counted from the seeded start: at least 1m 20s, however long signing in took.
    const duration = row.getByRole('cell').filter({ hasText: /^\d+m \d+s$/ });
    await expect(duration).toBeVisible();
    const first = await duration.textContent();
    await expect(duration).not.toHaveText(first!, { timeout: 5_000 });
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    expect(errors).toEqual([]);
  } finally {
    await db()`update runs set status = 'cancelled', finished_at = now() where id = ${id}`;
  }
});
