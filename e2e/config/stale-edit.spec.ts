import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

test('a stale edit is refused with who changed it, and reload shows their change', async ({ page }) => {
  await signIn(page, 'ada', '/integrations/accounting-export/config');
  await page.getByLabel('Breaker cooldown').fill('2m');
  // Meanwhile another admin saves a change.
  await db()`update integrations set breaker_failures = breaker_failures + 1, version = version + 1, updated_by = 'grace.admin@junction.local', updated_at = now() where name = 'accounting-export'`;
  await page.getByRole('button', { name: 'Review changes' }).click();
  await page.getByRole('button', { name: 'Save 1 change' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'reload' });
  await expect(alert).toContainText('Changed by grace.admin@junction.local');
  const [row] = await db()<{ breaker_cooldown: string }[]>`select breaker_cooldown from integrations where name = 'accounting-export'`;
  expect(row.breaker_cooldown).not.toBe('2m');
  await alert.getByRole('button', { name: 'Reload' }).click();
  await expect(page.getByLabel('Breaker cooldown')).toHaveValue(row.breaker_cooldown);
});
