import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

test('admin edits the schedule, reviews the diff, saves, and finds the change in History', async ({ page }) => {
  await signIn(page, 'ada', '/integrations/crm-sync/config');
  const schedule = page.getByLabel('Cron expression');
  await schedule.fill('0 25 * * *');
  await expect(page.getByTestId('schedule-problem')).toContainText('hour');
  await schedule.fill('30 6 * * 1-5');
  await expect(page.getByTestId('schedule-words')).toContainText('06:30');
  await page.getByRole('button', { name: 'Review changes' }).click();
  const diff = page.getByTestId('config-diff');
  await expect(diff).toContainText('schedule');
  await expect(diff).toContainText('*/15 * * * *');
  await expect(diff).toContainText('30 6 * * 1-5');
  await page.screenshot({ path: 'test-results/screenshots/config-diff.png', fullPage: true });
  await page.getByRole('button', { name: 'Save 1 change' }).click();
  await expect(page.getByText('Saved 1 change; see History')).toBeVisible();
  // Review changes, which opened the dialog, is disabled once nothing is left to save: the keyboard
  // goes on from the page's main region, not from the top of <body>.
  await expect(page.locator('#main')).toBeFocused();
  await page.getByRole('link', { name: 'History' }).click();
  const row = page.getByTestId('history-row').filter({ hasText: 'ada.admin@junction.local' }).filter({ hasText: 'schedule' }).first();
  await expect(row).toContainText('*/15 * * * *');
  await expect(row).toContainText('30 6 * * 1-5');
  const [audit] = await db()<{ changed_by: string; old_value: string; new_value: string }[]>`
    select changed_by, old_value, new_value from audit_log where integration = 'crm-sync' and field_name = 'schedule' order by id desc limit 1`;
  expect(audit).toEqual({ changed_by: 'ada.admin@junction.local', old_value: '*/15 * * * *', new_value: '30 6 * * 1-5' });
  await page.screenshot({ path: 'test-results/screenshots/history.png', fullPage: true });
});

test('an invalid value is refused with a message on the field and nothing is saved', async ({ page }) => {
  await signIn(page, 'ada', '/integrations/accounting-export/config');
  const [before] = await db()<{ version: number }[]>`select version from integrations where name = 'accounting-export'`;
  await page.getByLabel('Breaker opens after (consecutive failures)').fill('0');
  await page.getByLabel('batchSize').fill('5000');
  await page.getByRole('button', { name: 'Review changes' }).click();
  // Marked before any dialog offers to save (it used to offer "Save 2 changes" and then refuse).
  await expect(page.getByRole('alert').filter({ hasText: 'Nothing saved: 2 fields need a fix first, marked below.' })).toBeVisible();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await expect(page.locator('#breakerFailures-error')).toHaveText('must be at least 1');
  await expect(page.locator('#setting-batchSize-error')).toHaveText('must be at most 500 (the API limit)');
  const [after] = await db()<{ version: number }[]>`select version from integrations where name = 'accounting-export'`;
  expect(after.version).toBe(before.version);
});

test("a refused field's message shows once, and goes once that field is edited", async ({ page }) => {
  await signIn(page, 'ada', '/integrations/accounting-export/config');
  const schedule = page.getByLabel('Cron expression');
  await schedule.fill('61 * * * *');
  await page.getByLabel('Breaker opens after (consecutive failures)').fill('0');
  await page.getByRole('button', { name: 'Review changes' }).click();
  await expect(page.locator('#schedule-error')).toContainText('minute must be 0–59 (got 61)');
  await expect(page.locator('#breakerFailures-error')).toHaveText('must be at least 1');
  // The live check and the refusal said the same thing twice under the field.
  await expect(page.locator('#schedule-error, #schedule-words').filter({ hasText: 'minute must be 0–59' })).toHaveCount(1);
  // Fixed: the refusal of the old value no longer stands under the new one (it did until the next save).
  await schedule.fill('0 3 * * *');
  await expect(page.getByTestId('schedule-words')).toContainText('03:00');
  await expect(page.locator('#schedule-error')).toHaveCount(0);
  await expect(schedule).not.toHaveAttribute('aria-invalid', 'true');
  // A field not edited keeps its message.
  await expect(page.locator('#breakerFailures-error')).toHaveText('must be at least 1');
});

test('two bad retry delays are one field to fix, and a budget over 100 is refused in percent', async ({ page }) => {
  await signIn(page, 'ada', '/integrations/accounting-export/config');
  await page.getByLabel('Retry delays').fill('abc, xyz');
  await page.getByLabel('Retry budget (% of attempts in the last hour; empty = none)').fill('150');
  await page.getByRole('button', { name: 'Review changes' }).click();
  // Before: "3 fields need a fix" (each delay counted) and "must be at most 1" beside a field in percent.
  await expect(page.getByRole('alert').filter({ hasText: 'Nothing saved: 2 fields need a fix first, marked below.' })).toBeVisible();
  await expect(page.locator('#retryBudget-error')).toHaveText('must be at most 100% of attempts (1 as a fraction)');
  await expect(page.getByRole('dialog')).toHaveCount(0);
});
