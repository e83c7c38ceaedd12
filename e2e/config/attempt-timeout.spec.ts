import { db } from '../db';
import { expect, signIn, test } from '../fixtures';
import { callServerAction, serverActions } from '../server-actions';

/** An integration's attempt time limit, edited like its retry settings: validated, audited, in History. */

const limit = async () =>
  (
    await db()<{ attempt_timeout: string; version: number }[]>`
    select attempt_timeout, version from integrations where name = 'accounting-export'`
  )[0];

test('admin sets the attempt time limit in the Retries card, and finds old → new in History', async ({ page }) => {
  await signIn(page, 'ada', '/integrations/accounting-export/config');
  const before = await limit();
  expect(before.attempt_timeout).toBe('1h');
  const field = page.getByLabel('Attempt time limit (1s to 3h)');
  await expect(field).toHaveValue('1h');
  await field.fill('2h');
  await page.getByRole('button', { name: 'Review changes' }).click();
  const diff = page.getByTestId('config-diff');
  await expect(diff).toContainText('attemptTimeout');
  await expect(diff).toContainText('1h');
  await expect(diff).toContainText('2h');
  await page.getByRole('button', { name: 'Save 1 change' }).click();
  await expect(page.getByText('Saved 1 change; see History')).toBeVisible();
  expect(await limit()).toEqual({ attempt_timeout: '2h', version: before.version + 1 });

  await page.getByRole('link', { name: 'History' }).click();
  // The field filter lists it like the other fields.
  await page.getByLabel('Field').selectOption('attemptTimeout');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/field=attemptTimeout/);
  const rows = page.getByTestId('history-row');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('ada.admin@junction.local');
  await expect(rows.first()).toContainText('attemptTimeout');
  await expect(rows.first().locator('code').filter({ hasText: /^1h$/ })).toBeVisible();
  await expect(rows.first().locator('code').filter({ hasText: /^2h$/ })).toBeVisible();
  const [audit] = await db()<{ changed_by: string; old_value: string; new_value: string }[]>`
    select changed_by, old_value, new_value from audit_log where integration = 'accounting-export' and field_name = 'attemptTimeout'
     order by id desc limit 1`;
  expect(audit).toEqual({ changed_by: 'ada.admin@junction.local', old_value: '1h', new_value: '2h' });
  await page.screenshot({ path: 'test-results/screenshots/attempt-timeout-history.png', fullPage: true });
});

test('a time limit outside 1s to 3h is refused on the field, naming the range, and nothing is saved', async ({ page }) => {
  await signIn(page, 'ada', '/integrations/accounting-export/config');
  const before = await limit();
  const field = page.getByLabel('Attempt time limit (1s to 3h)');
  for (const [value, message] of [
    ['4h', "'4h' is out of range: use 1s to 3h, e.g. 45s, 90m or 2h"],
    ['0s', "'0s' is out of range: use 1s to 3h, e.g. 45s, 90m or 2h"],
    ['soon', "'soon' is not a duration: use 1s to 3h, e.g. 45s, 90m or 2h (units: ms, s, m, h)"],
    ['', 'is empty: enter a time limit, use 1s to 3h, e.g. 45s, 90m or 2h'],
  ]) {
    await field.fill(value);
    await page.getByRole('button', { name: 'Review changes' }).click();
    await expect(page.locator('#attemptTimeout-error')).toHaveText(message);
    await expect(page.getByRole('dialog')).toHaveCount(0);
    await expect(field).toHaveAttribute('aria-invalid', 'true');
  }
  expect(await limit()).toEqual(before);
  // A valid value clears the message and saves.
  await field.fill('90m');
  await expect(page.locator('#attemptTimeout-error')).toHaveCount(0);
  await page.getByRole('button', { name: 'Review changes' }).click();
  await page.getByRole('button', { name: 'Save 1 change' }).click();
  await expect(page.getByText('Saved 1 change; see History')).toBeVisible();
  expect(await limit()).toEqual({ attempt_timeout: '90m', version: before.version + 1 });
});

test('an operator who posts the config save action with a time limit is refused, and nothing changes', async ({ page, baseURL }) => {
  const before = await limit();
  const audited = async () =>
    (await db()<{ n: number }[]>`select count(*)::int as n from audit_log where integration = 'accounting-export'`)[0].n;
  const auditRows = await audited();
  await signIn(page, 'oscar', '/integrations/accounting-export/config');
  // The form is read-only for an operator...
  await expect(page.getByLabel('Attempt time limit (1s to 3h)')).toBeDisabled();
  // ...and the server refuses the action posted directly.
  const action = serverActions({ name: 'accounting-export', id: '00000000-0000-4000-8000-000000000000' }).find(
    (a) => a.name === 'saveConfigAction',
  );
  expect(action).toBeDefined();
  const call = await callServerAction(page.request, baseURL!, action!, [
    { integration: 'accounting-export', expectedVersion: before.version, patch: { attemptTimeout: '3h' } },
  ]);
  expect(call.result).toMatchObject({ ok: false, status: 403, error: expect.stringContaining('needs the admin role') as unknown });
  expect(await limit()).toEqual(before);
  expect(await audited()).toBe(auditRows);
});
