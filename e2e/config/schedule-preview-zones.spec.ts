import { expect, signIn, test } from '../fixtures';

// The admin's browser is in Japan (UTC+09:00, no daylight saving); the schedule in India (UTC+05:30, none either).
// (Chromium names India's zone Asia/Calcutta, so the viewer is the one in Tokyo.)
test.use({ timezoneId: 'Asia/Tokyo' });

test("the schedule preview names the zone the cron runs in and lists the next runs in the viewer's time, UTC on hover", async ({
  page,
}) => {
  await signIn(page, 'ada', '/integrations/crm-sync/config');
  await page.locator('#timezone').fill('Asia/Kolkata');
  await page.getByLabel('Cron expression').fill('30 6 * * *');
  await expect(page.getByTestId('schedule-words')).toContainText('06:30');
  await expect(page.getByTestId('schedule-zone')).toHaveText(
    'Evaluated in Asia/Kolkata. Next runs in your time zone (Asia/Tokyo); hover for UTC:',
  );
  const runs = page.getByTestId('schedule-next').getByRole('listitem');
  await expect(runs).toHaveCount(5);
  for (const run of await runs.all()) {
    // 06:30 in Kolkata is 01:00 UTC, 10:00 in Tokyo.
    await expect(run.locator('time')).toHaveAttribute('title', /^\d{4}-\d\d-\d\d 01:00:00 UTC$/);
    await expect(run.locator('time')).toContainText('10:00');
    await expect(run.locator('time')).toContainText('GMT+9');
    await expect(run).toContainText(/\((in \d+ (minutes?|hours?|days?)|tomorrow)\)/);
    await expect(run).toContainText('06:30 in Asia/Kolkata');
  }

  // In the viewer's own zone, the preview says so and does not repeat each time.
  await page.locator('#timezone').fill('Asia/Tokyo');
  await expect(page.getByTestId('schedule-zone')).toHaveText(
    'Evaluated in Asia/Tokyo (your time zone too). Next runs in your time zone; hover for UTC:',
  );
  await expect(runs.first().locator('time')).toContainText('06:30');
  await expect(runs.first().locator('time')).toHaveAttribute('title', /^\d{4}-\d\d-\d\d 21:30:00 UTC$/);
  await expect(runs.first()).not.toContainText(' in Asia/Tokyo');
});
