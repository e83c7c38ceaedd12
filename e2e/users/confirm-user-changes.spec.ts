import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

const stateOf = async (username: string) =>
  (await db()<{ role: string; disabled: boolean }[]>`select role, disabled from users where email like ${`${username}.%`}`)[0];

test('a role change or a disable asks first, saying what it does; Cancel changes nothing', async ({ page, browser }) => {
  // People are listed after their first sign-in.
  for (const who of ['vera', 'oscar'] as const) {
    const context = await browser.newContext();
    await signIn(await context.newPage(), who);
    await context.close();
  }
  await signIn(page, 'ada', '/users');
  const audited = async () => (await db()<{ n: number }[]>`select count(*)::int as n from audit_log where kind = 'user'`)[0].n;
  const auditBefore = await audited();
  try {
    // A slip on the role select (a wrong option, an arrow key) must not change anyone's rights.
    const role = page.getByLabel('Role of Vera Viewer');
    await role.selectOption('admin');
    const dialog = page.getByRole('dialog');
    await expect(dialog).toContainText('Make Vera Viewer an admin?');
    await expect(dialog).toContainText('edit configuration, credentials, mappings, channels and roles');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect(dialog).toHaveCount(0);
    await expect(role).toHaveValue('viewer');
    expect(await stateOf('vera')).toEqual({ role: 'viewer', disabled: false });

    await page.getByRole('row').filter({ hasText: 'Oscar Operator' }).getByRole('button', { name: 'Disable' }).click();
    await expect(dialog).toContainText('Disable Oscar Operator?');
    await expect(dialog).toContainText('signed out everywhere at once');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await stateOf('oscar')).toEqual({ role: 'operator', disabled: false });
    expect(await audited()).toBe(auditBefore);

    // Confirmed, it is done and audited.
    await role.selectOption('operator');
    await dialog.getByRole('button', { name: 'Make operator' }).click();
    await expect(page.getByText('Vera Viewer is now operator')).toBeVisible();
    expect(await stateOf('vera')).toEqual({ role: 'operator', disabled: false });
    expect(await audited()).toBe(auditBefore + 1);
  } finally {
    // Other specs sign in as vera the viewer.
    await db()`update users set role = 'viewer' where email like 'vera.%'`;
  }
});

test('an admin demoting themselves is told they lose admin rights at once', async ({ page }) => {
  await signIn(page, 'ada', '/users');
  await page.getByLabel('Role of Ada Admin').selectOption('operator');
  await expect(page.getByRole('dialog')).toContainText('You lose the admin role at once');
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  expect(await stateOf('ada')).toEqual({ role: 'admin', disabled: false });
});
