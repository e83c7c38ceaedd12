import { setTimeout as sleep } from 'node:timers/promises';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';

test("a click on Retry before the page's JavaScript has run is not lost", async ({ page }) => {
  const [failed] = await seedFailedRuns('crm-sync', 1, 'hydration seed: CRM answered 503');
  await signIn(page, 'oscar');
  // A slow network: the page's HTML (with its Retry button) arrives long before its scripts.
  await page.route('**/_next/static/chunks/**', async (route) => {
    await sleep(1_500);
    await route.continue();
  });
  await page.goto(`/runs/${failed}`, { waitUntil: 'commit' });
  const retry = page.getByRole('button', { name: 'Retry', exact: true });
  await expect(retry).toBeVisible();
  // Once this click landed on the server-rendered button, did nothing and was gone.
  await retry.click();
  await expect(page.getByRole('button', { name: 'Retry run' })).toBeVisible();
  await page.unrouteAll({ behavior: 'ignoreErrors' });
});
