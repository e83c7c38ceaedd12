import { expect, seedFailedRuns, signIn, test } from '../fixtures';

test('a time range whose To is before its From is named at the To field, not answered "No run matches"', async ({ page }) => {
  const [runId] = await seedFailedRuns('crm-sync', 1, 'reversed range seed: CRM answered 503');
  // Failed scheduled runs of crm-sync only: earlier specs leave more than a page of crm-sync runs
  // newer than the seeded one (retries they cancelled a moment ago), which pushed it off the list.
  await signIn(page, 'vera', '/runs?integration=crm-sync&status=failed&trigger=schedule');
  await page.getByText('Time range', { exact: true }).click();
  await page.getByLabel('From (UTC)').fill('2026-12-01T08:00');
  await page.getByLabel('To (UTC)').fill('2026-11-30T08:00');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/from=2026-12-01T08%3A00&to=2026-11-30T08%3A00/);

  const to = page.getByLabel('To (UTC)');
  await expect(to).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#runs-to-error')).toHaveText(
    'To (2026-11-30 08:00:00 UTC) is before From (2026-12-01 08:00:00 UTC): the time range is reversed. Swap the two times. The list below is not filtered by time until then.',
  );
  // Both times stay in the form, to be swapped or corrected.
  await expect(page.getByLabel('From (UTC)')).toHaveValue('2026-12-01T08:00');
  await expect(to).toHaveValue('2026-11-30T08:00');
  await expect(page.getByText('No run matches these filters')).toHaveCount(0);
  await expect(page.getByTestId(`run-row-${runId}`)).toBeVisible();

  // Swapped, the range applies and the message is gone.
  await page.getByLabel('From (UTC)').fill('2026-11-30T08:00');
  await to.fill('2026-12-01T08:00');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/from=2026-11-30T08%3A00&to=2026-12-01T08%3A00/);
  await expect(page.locator('#runs-to-error')).toHaveCount(0);
  await expect(to).not.toHaveAttribute('aria-invalid', 'true');
});

test('the runs API answers a reversed time range with a 400 naming the field, not an empty list', async ({ page }) => {
  await signIn(page, 'vera');
  const response = await page.request.get('/api/runs?from=2026-12-01T08:00:00Z&to=2026-11-30T08:00:00Z');
  expect(response.status()).toBe(400);
  expect(await response.json()).toEqual({
    error: 'Some fields need attention.',
    fieldErrors: {
      to: 'To (2026-11-30 08:00:00 UTC) is before From (2026-12-01 08:00:00 UTC): the time range is reversed. Swap the two times.',
    },
  });
  const inOrder = await page.request.get('/api/runs?from=2026-11-30T08:00:00Z&to=2026-12-01T08:00:00Z');
  expect(inOrder.status()).toBe(200);
});
