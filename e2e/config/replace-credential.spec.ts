import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

test('admin replaces a credential and neither the old nor the new value is anywhere in the page', async ({ page }) => {
  const newSecret = `e2e-secret-${Date.now()}-zq9`;
  await signIn(page, 'ada', '/integrations/accounting-export/credentials');
  const row = page.getByTestId('secret-clientSecret');
  await expect(row).toContainText('set');
  // Past the "just now" of the page's load (5 s), within its clock's 15 s tick.
  await page.waitForTimeout(6_000);
  await row.getByRole('button', { name: 'Replace' }).click();
  await page.getByLabel('New value').fill(newSecret);
  await page.getByRole('button', { name: 'Save secret' }).click();
  await expect(page.getByText('clientSecret replaced')).toBeVisible();
  await expect(row).toContainText('ada.admin@junction.local');
  // Read against the time it arrived, not the page's last tick ("set in 6 seconds by ada…").
  await expect(row).toContainText('set just now by');
  for (const path of [
    '/integrations/accounting-export/credentials',
    '/integrations/accounting-export/config',
    '/integrations/accounting-export/history',
    '/audit',
  ]) {
    const res = await page.request.get(path);
    const html = await res.text();
    expect(html, path).not.toContain(newSecret);
    expect(html, path).not.toContain('dev-accounting-secret');
  }
  const leaks = await db()<
    { n: number }[]
  >`select count(*)::int as n from audit_log where new_value::text like ${`%${newSecret}%`} or old_value::text like '%dev-accounting-secret%'`;
  expect(leaks[0].n).toBe(0);
  const [audit] = await db()<
    { new_value: unknown }[]
  >`select new_value from audit_log where field_name = 'secret.clientSecret' order by id desc limit 1`;
  expect(audit.new_value).toEqual({ replaced: true });
  // Put the sandbox credential back so the export keeps working for other tests.
  await row.getByRole('button', { name: 'Replace' }).click();
  await page.getByLabel('New value').fill('dev-accounting-secret');
  await page.getByRole('button', { name: 'Save secret' }).click();
  await expect(page.getByText('clientSecret replaced')).toHaveCount(2);
});

test('a secret refused because the configuration changed meanwhile is saved after a reload, the value kept', async ({ page }) => {
  await signIn(page, 'ada', '/integrations/crm-sync/credentials');
  const row = page.getByTestId('secret-apiKey');
  await row.getByRole('button', { name: /Replace|Set/ }).click();
  const field = page.getByLabel('New value');
  // Another admin saves an unrelated change after this page was loaded.
  await db()`update integrations set version = version + 1, updated_by = 'grace.admin@junction.local', updated_at = now() where name = 'crm-sync'`;
  const [before] = await db()<{ n: number }[]>`select count(*)::int as n from audit_log where field_name = 'secret.apiKey'`;
  await field.fill('dev-crm-key-stale');
  await page.getByRole('button', { name: 'Save secret' }).click();
  const refusal = page.getByRole('alert').filter({ hasText: 'Changed by grace.admin@junction.local' });
  await expect(refusal).toContainText('Your new value is still in the form.');
  // Before, the dialog could only fail again: its version was the page's, and nothing reloaded it.
  await refusal.getByRole('button', { name: 'Reload, keeping my value' }).click();
  await expect(refusal).toHaveCount(0);
  await expect(field).toHaveValue('dev-crm-key-stale');
  await page.getByRole('button', { name: 'Save secret' }).click();
  await expect(page.getByText(/apiKey (replaced|set)/)).toBeVisible();
  const secretChanges = async () =>
    (await db()<{ n: number }[]>`select count(*)::int as n from audit_log where field_name = 'secret.apiKey'`)[0].n;
  expect(await secretChanges()).toBe(before.n + 1);
  // Put the sandbox's key back so the CRM sync keeps working for other tests.
  await row.getByRole('button', { name: 'Replace' }).click();
  await page.getByLabel('New value').fill('dev-crm-key');
  await page.getByRole('button', { name: 'Save secret' }).click();
  await expect.poll(secretChanges).toBe(before.n + 2);
});
