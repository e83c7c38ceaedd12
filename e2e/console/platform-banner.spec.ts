import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

/**
 * A console left open while the worker stops beating says so on every page, without a reload, and
 * stops saying it once a worker beats again. The worker here keeps running: the test holds an
 * EXCLUSIVE lock on worker_heartbeats (reads go on, the worker's beat waits), which is what the
 * health check sees of a worker that stopped (its last beat ages past a minute).
 */
test('with no worker beating, every console page says runs will wait, and the warning goes once one beats again', async ({ page }) => {
  test.setTimeout(240_000);
  await signIn(page, 'oscar', '/runs');
  const banner = page.getByTestId('platform-banner');
  await expect(banner).toHaveCount(0);

  await db().begin(async (tx) => {
    await tx`lock table worker_heartbeats in exclusive mode`;
    await expect(banner).toContainText(
      /No worker is running: runs you start or retry now are queued, and none starts until a worker is back\. Health check: last heartbeat \d+s ago/,
      { timeout: 150_000 },
    );
    await expect(banner).toHaveAttribute('role', 'status');
    // Another page shows it at once (it is part of the console's frame, not of one page).
    await page.getByRole('link', { name: 'Integrations', exact: true }).click();
    await expect(page).toHaveURL(/\/integrations$/);
    await expect(banner).toContainText('No worker is running');
  });

  await expect(banner).toHaveCount(0, { timeout: 60_000 });
});
