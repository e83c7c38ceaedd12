import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

test('admin reverts the configuration to an earlier version, as a new audited change', async ({ page }) => {
  await signIn(page, 'ada', '/integrations/crm-sync/config');
  const original = (await db()<{ breaker_cooldown: string }[]>`select breaker_cooldown from integrations where name = 'crm-sync'`)[0].breaker_cooldown;
  await page.getByLabel('Breaker cooldown').fill('7m');
  await page.getByRole('button', { name: 'Review changes' }).click();
  await page.getByRole('button', { name: 'Save 1 change' }).click();
  await expect(page.getByText('Saved 1 change; see History')).toBeVisible();
  await page.getByRole('link', { name: 'History' }).click();
  // The version before the 7m change: open the config as of the change just before it.
  const rows = page.getByTestId('history-row');
  const target = rows.filter({ hasText: 'breakerCooldown' }).first();
  await expect(target).toContainText('7m');
  const previous = rows.nth(1);
  await previous.getByRole('link', { name: 'View config as of this change' }).click();
  await expect(page.getByTestId('config-as-of')).toContainText(`"breakerCooldown": "${original}"`);
  await page.getByRole('button', { name: 'Revert to this version' }).click();
  await page.getByRole('button', { name: 'Revert', exact: true }).click();
  await expect(page.getByText(/Reverted \d+ field/)).toBeVisible();
  const [after] = await db()<{ breaker_cooldown: string }[]>`select breaker_cooldown from integrations where name = 'crm-sync'`;
  expect(after.breaker_cooldown).toBe(original);
  const [audit] = await db()<{ changed_by: string; new_value: string }[]>`
    select changed_by, new_value from audit_log where integration = 'crm-sync' and field_name = 'breakerCooldown' order by id desc limit 1`;
  expect(audit).toEqual({ changed_by: 'ada.admin@junction.local', new_value: original });
});
