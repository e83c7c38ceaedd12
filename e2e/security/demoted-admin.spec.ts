import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

const ADA = 'ada.admin@junction.local';

test('an admin demoted while their console tab is open keeps no admin power on the server', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page, 'ada', '/integrations/accounting-export/config');
  const [before] = await db()<{ breaker_cooldown: string; version: number; audit: number }[]>`
    select breaker_cooldown, version, (select count(*)::int from audit_log) as audit from integrations where name = 'accounting-export'`;
  const mine = before.breaker_cooldown === '2m' ? '3m' : '2m';
  await page.getByLabel('Breaker cooldown').fill(mine);
  await page.getByRole('button', { name: 'Review changes' }).click();
  // Another admin demotes Ada while the review dialog is open (the tab still shows admin controls).
  await db()`update users set role = 'operator' where email = ${ADA}`;
  try {
    await page.getByRole('button', { name: 'Save 1 change' }).click();
    await expect(page.getByRole('alert').filter({ hasText: 'This needs the admin role; you are signed in as operator' })).toBeVisible();
    const [after] = await db()<(typeof before)[]>`
      select breaker_cooldown, version, (select count(*)::int from audit_log) as audit from integrations where name = 'accounting-export'`;
    expect(after).toEqual(before);
    // The next page load shows what an operator may do.
    await page.reload();
    await expect(page.getByText('Only admins can change the configuration.')).toBeVisible();
    expect((await page.request.get('/api/me')).ok()).toBe(true);
    expect(await (await page.request.get('/api/me')).json()).toMatchObject({ user: { role: 'operator' } });
  } finally {
    await db()`update users set role = 'admin' where email = ${ADA}`;
  }
});
