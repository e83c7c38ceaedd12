import { expect, seedFailedRuns, signIn, test } from '../fixtures';

test("a scheduled run's page says what started it once, as the runs table does", async ({ page }) => {
  const [id] = await seedFailedRuns('accounting-export', 1, 'header seed: ERP answered 503');
  await signIn(page, 'oscar', `/runs/${id}`);
  const header = page.getByText(/· schedule · created/);
  await expect(header).toBeVisible();
  await expect(page.getByText('schedule by schedule')).toHaveCount(0);
});
