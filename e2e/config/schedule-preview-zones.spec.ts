import { expect, signIn, test } from '../fixtures';

// The admin's browser is in India (UTC+05:30, no daylight saving); the schedule in Japan (UTC+09:00, none either).
test.use({ timezoneId: 'Asia/Kolkata' });

test("the schedule preview names the zone the cron runs in and lists the next runs in the viewer's time, UTC on hover", async ({
  page,
}) => {
  await signIn(page, 'ada', '/integrations/crm-sync/config');
  await page.locator('#timezone').fill('Asia/Tokyo');
  await page.getByLabel('Cron expression').fill('30 6 * * *');
  await expect(page.getByTestId('schedule-words')).toContainText('06:30');
  await expect(page.getByTestId('schedule-zone')).toHaveText(
    'Evaluated in Asia/Tokyo. Next runs in your time zone (Asia/Kolkata); hover for UTC:',
  );
  const runs = page.getByTestId('schedule-next').getByRole('listitem');
  await expect(runs).toHaveCount(5);
  for (const run of await runs.all()) {
    // 06:30 in Tokyo is 21:30 UTC the day before, 03:00 in Kolkata.
    await expect(run.locator('time')).toHaveAttribute('title', /^\d{4}-\d\d-\d\d 21:30:00 UTC$/);
    await expect(run.locator('time')).toContainText('03:00');
    await expect(run.locator('time')).toContainText('GMT+5:30');
    await expect(run).toContainText(/\((in \d+ (minutes?|hours?|days?)|tomorrow)\)/);
    await expect(run).toContainText('06:30 in Asia/Tokyo');
  }

  // In the viewer's own zone, the preview says so and does not repeat each time.
  await page.locator('#timezone').fill('Asia/Kolkata');
  await expect(page.getByTestId('schedule-zone')).toHaveText(
    'Evaluated in Asia/Kolkata (your time zone too). Next runs in your time zone; hover for UTC:',
  );
  await expect(runs.first().locator('time')).toContainText('06:30');
  await expect(runs.first().locator('time')).toHaveAttribute('title', /^\d{4}-\d\d-\d\d 01:00:00 UTC$/);
  await expect(runs.first()).not.toContainText(' in Asia/Kolkata');
});
