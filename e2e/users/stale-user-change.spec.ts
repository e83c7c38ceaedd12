import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

const stateOf = async (username: string) =>
  (await db()<{ role: string; disabled: boolean }[]>`select role, disabled from users where email like ${`${username}.%`}`)[0];
const audited = async () => (await db()<{ n: number }[]>`select count(*)::int as n from audit_log where kind = 'user'`)[0].n;

test('a role change or a disable made on a stale Users page is refused, saying who changed it, and changes nothing', async ({
  page,
  browser,
}) => {
  // People are listed after their first sign-in.
  for (const who of ['vera', 'oscar'] as const) {
    const context = await browser.newContext();
    await signIn(await context.newPage(), who);
    await context.close();
  }
  // Admin A loads the page: Vera is a viewer, Oscar is enabled.
  await signIn(page, 'ada', '/users');
  const veraRole = page.getByLabel('Role of Vera Viewer');
  await expect(veraRole).toHaveValue('viewer');
  // Admin B, in another browser, makes Vera an operator and disables Oscar.
  const other = await browser.newContext();
  try {
    const b = await other.newPage();
    await signIn(b, 'ada', '/users');
    await b.getByLabel('Role of Vera Viewer').selectOption('operator');
    await b.getByRole('dialog').getByRole('button', { name: 'Make operator' }).click();
    await expect(b.getByText('Vera Viewer is now operator')).toBeVisible();
    await b.getByRole('row').filter({ hasText: 'Oscar Operator' }).getByRole('button', { name: 'Disable' }).click();
    await b.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
    await expect(b.getByText('Oscar Operator is disabled')).toBeVisible();
    const auditBefore = await audited();

    // A, still seeing Vera as a viewer, makes her an admin: refused, B's change stands.
    await veraRole.selectOption('admin');
    await page.getByRole('dialog').getByRole('button', { name: 'Make admin' }).click();
    await expect(
      page.getByText(
        /Vera Viewer's role was changed to operator by ada\.admin@junction\.local .*\(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); reload/,
      ),
    ).toBeVisible();
    expect(await stateOf('vera')).toEqual({ role: 'operator', disabled: false });
    // The page reloads its rows: A now sees what B did.
    await expect(veraRole).toHaveValue('operator');

    // Same for a disable made on a page that showed Oscar enabled: the refusal names B's disable.
    await db()`update users set disabled = false where email like 'oscar.%'`;
    await page.reload();
    await b.reload();
    await b.getByRole('row').filter({ hasText: 'Oscar Operator' }).getByRole('button', { name: 'Disable' }).click();
    await b.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
    await expect(b.getByText('Oscar Operator is disabled')).toBeVisible();
    const auditBeforeDisable = await audited();
    await page.getByRole('row').filter({ hasText: 'Oscar Operator' }).getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
    await expect(page.getByText(/Oscar Operator was disabled by ada\.admin@junction\.local .*UTC\); reload/)).toBeVisible();
    expect(await audited()).toBe(auditBeforeDisable);
    expect(auditBeforeDisable).toBe(auditBefore + 1);
    await expect(page.getByRole('row').filter({ hasText: 'Oscar Operator' }).getByRole('button', { name: 'Enable' })).toBeVisible();
  } finally {
    await other.close();
    // Other specs sign in as vera the viewer and oscar the operator.
    await db()`update users set role = 'viewer' where email like 'vera.%'`;
    await db()`update users set disabled = false where email like 'oscar.%'`;
  }
});
